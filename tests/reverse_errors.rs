//! Misuse of the reverse-mode API panics with a message that says what went wrong.

use wirtinger::prelude::*;

type C = Complex64;

fn v3() -> Vec<C> {
    vec![c64(1.0, 0.5), c64(-0.5, 2.0), c64(0.25, -1.0)]
}

fn v6() -> Vec<C> {
    (0..6).map(|k| c64(k as f64, 1.0)).collect()
}

// ---------------------------------------------------------------------------------------------
// Variables of two tapes.
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "`add` of variables from two different tapes")]
fn scalar_add_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t1.var(c64(1.0, 0.0)) + t2.var(c64(2.0, 0.0));
}

#[test]
#[should_panic(expected = "`mul` of variables from two different tapes")]
fn scalar_mul_assign_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let mut x = t1.var(c64(1.0, 0.0));
    x *= t2.real_var(2.0);
}

#[test]
#[should_panic(expected = "`powc` of variables from two different tapes")]
fn scalar_powc_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t1.var(c64(1.0, 1.0)).powc(t2.var(c64(2.0, 0.0)));
}

#[test]
#[should_panic(expected = "`chain2` of variables from two different tapes")]
fn chain2_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let one = c64(1.0, 0.0);
    let _ = t1.var(one).chain2(t2.var(one), one, (one, one), (one, one));
}

#[test]
#[should_panic(expected = "`sub` of variables from two different tapes")]
fn array_sub_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = &t1.vector(v3()) - &t2.vector(v3());
}

#[test]
#[should_panic(expected = "`div` of variables from two different tapes")]
fn array_div_scalar_var_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t1.vector(v3()) / t2.var(c64(2.0, 0.0));
}

#[test]
#[should_panic(expected = "`add` of variables from two different tapes")]
fn scalar_var_plus_array_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t2.var(c64(2.0, 0.0)) + &t1.vector(v3());
}

#[test]
#[should_panic(expected = "`vdot` of variables from two different tapes")]
fn vdot_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = t1.vector(v3()).vdot(&t2.vector(v3()));
}

#[test]
#[should_panic(expected = "`stack` of variables from two different tapes")]
fn stack_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let _ = VarArray::stack(&[t1.var(c64(1.0, 0.0)), t2.var(c64(1.0, 0.0))]);
}

#[test]
#[should_panic(expected = "`identity` of variables from two different tapes")]
fn custom_across_tapes() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let x = t2.vector(v3());
    let _ = t1.custom("identity", &[&x], v3(), &[3], |c| vec![c.to_vec()]);
}

#[test]
#[should_panic(expected = "asked about a variable of another tape")]
fn gradients_of_a_variable_of_another_tape() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let x = t1.var(c64(1.0, 0.0));
    let y = t2.var(c64(1.0, 0.0));
    let g = x.norm_sqr().backward();
    let _ = g.dz(&y);
}

// ---------------------------------------------------------------------------------------------
// Shapes.
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "`add` of arrays with shapes [2, 3] and [3, 2]")]
fn add_shape_mismatch() {
    let t = Tape::new();
    let _ = &t.array(v6(), &[2, 3]) + &t.array(v6(), &[3, 2]);
}

#[test]
#[should_panic(expected = "`mul` of arrays with shapes [3] and [6]")]
fn mul_by_value_shape_mismatch() {
    let t = Tape::new();
    let _ = t.vector(v3()) * t.vector(v6());
}

#[test]
#[should_panic(expected = "`div` of arrays with shapes [6] and [2, 3]")]
fn div_assign_shape_mismatch() {
    let t = Tape::new();
    let mut a = t.vector(v6());
    a /= &t.array(v6(), &[2, 3]);
}

#[test]
#[should_panic(expected = "`sub` of arrays with shapes [3] and [6]")]
fn sub_shape_mismatch() {
    let t = Tape::new();
    let _ = &t.vector(v3()) - t.vector(v6());
}

#[test]
#[should_panic(expected = "`powc` of arrays with shapes [3] and [6]")]
fn powc_shape_mismatch() {
    let t = Tape::new();
    let _ = t.vector(v3()).powc(&t.vector(v6()));
}

#[test]
#[should_panic(expected = "`dot` of arrays with shapes [3] and [6]")]
fn dot_shape_mismatch() {
    let t = Tape::new();
    let _ = t.vector(v3()).dot(&t.vector(v6()));
}

#[test]
#[should_panic(expected = "`mul` of an array of shape [3] and a constant slice of length 6")]
fn slice_length_mismatch() {
    let t = Tape::new();
    let _ = &t.vector(v3()) * &v6()[..];
}

#[test]
#[should_panic(expected = "`add` of an array of shape [2, 3] and a constant slice of length 3")]
fn slice_on_the_left_length_mismatch() {
    let t = Tape::new();
    let _ = &v3() + &t.array(v6(), &[2, 3]);
}

#[test]
#[should_panic(expected = "`array`: data of length 6 does not fit shape [4]")]
fn array_data_does_not_fit_shape() {
    let t = Tape::new();
    let _ = t.array(v6(), &[4]);
}

#[test]
#[should_panic(expected = "`reshape`: data of length 6 does not fit shape [4]")]
fn reshape_to_wrong_size() {
    let t = Tape::new();
    let _ = t.vector(v6()).reshape(&[4]);
}

#[test]
#[should_panic(expected = "`fft2` needs an array of at least 2 dimension(s), got shape [6]")]
fn fft2_of_a_vector() {
    let t = Tape::new();
    let _ = t.vector(v6()).fft2();
}

#[test]
#[should_panic(expected = "`ifft_axis`: axis 2 out of range for shape [2, 3]")]
fn fft_axis_out_of_range() {
    let t = Tape::new();
    let _ = t.array(v6(), &[2, 3]).ifft_axis(2, Norm::Ortho);
}

// ---------------------------------------------------------------------------------------------
// Asking Gradients the wrong question.
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "grad asked of a complex-valued output")]
fn grad_of_a_complex_output() {
    let t = Tape::new();
    let z = t.var(c64(1.0, 2.0));
    let g = z.exp().backward();
    let _ = g.grad(&z);
}

#[test]
#[should_panic(expected = "grad asked of a complex-valued output")]
fn grad_of_a_complex_output_array_leaf() {
    let t = Tape::new();
    let a = t.vector(v3());
    let g = a.fft().sum().backward();
    let _ = g.grad(&a);
}

#[test]
fn dz_dzbar_of_a_complex_output_are_fine() {
    let t = Tape::new();
    let z = t.var(c64(1.0, 2.0));
    let g = z.exp().backward();
    assert_eq!(g.dz(&z), c64(1.0, 2.0).exp());
    assert_eq!(g.dzbar(&z), c64(0.0, 0.0));
}

#[test]
#[should_panic(expected = "which is not a leaf")]
fn gradients_of_a_non_leaf() {
    let t = Tape::new();
    let z = t.var(c64(1.0, 2.0));
    let w = z.sin();
    let g = w.norm_sqr().backward();
    let _ = g.dzbar(&w);
}

#[test]
#[should_panic(expected = "(`exp`), which is not a leaf")]
fn gradients_of_a_non_leaf_array() {
    let t = Tape::new();
    let a = t.vector(v3());
    let b = a.exp();
    let g = b.norm_sqr_sum().backward();
    let _ = g.grad(&b);
}

#[test]
#[should_panic(expected = "(`constant`), which is not a leaf")]
fn gradients_of_a_constant() {
    let t = Tape::new();
    let z = t.var(c64(1.0, 2.0));
    let k = t.constant(c64(2.0, 0.0));
    let g = (z * k).norm_sqr().backward();
    let _ = g.dz(&k);
}

#[test]
#[should_panic(expected = "(`constant array`), which is not a leaf")]
fn gradients_of_a_constant_array() {
    let t = Tape::new();
    let a = t.vector(v3());
    let k = t.constant_array(v3(), &[3]);
    let g = a.vdot(&k).re().backward();
    let _ = g.dz(&k);
}

#[test]
#[should_panic(expected = "recorded after this backward pass")]
fn gradients_of_a_leaf_recorded_later() {
    let t = Tape::new();
    let z = t.var(c64(1.0, 2.0));
    let g = z.norm_sqr().backward();
    let later = t.var(c64(0.0, 1.0));
    let _ = g.dz(&later);
}

// ---------------------------------------------------------------------------------------------
// get, empty reductions, custom rules.
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "`get`: index [2, 0] out of bounds for shape [2, 3]")]
fn get_out_of_bounds() {
    let t = Tape::new();
    let _ = t.array(v6(), &[2, 3]).get(&[2, 0]);
}

#[test]
#[should_panic(expected = "`get`: index [1] out of bounds for shape [2, 3]")]
fn get_with_too_few_axes() {
    let t = Tape::new();
    let _ = t.array(v6(), &[2, 3]).get(&[1]);
}

#[test]
#[should_panic(expected = "`get`: index [0, 1, 0] out of bounds for shape [2, 3]")]
fn get_with_too_many_axes() {
    let t = Tape::new();
    let _ = t.array(v6(), &[2, 3]).get(&[0, 1, 0]);
}

#[test]
#[should_panic(expected = "sum of an empty iterator of Var")]
fn sum_of_no_vars() {
    let v: Vec<Var> = Vec::new();
    let _: Var = v.into_iter().sum();
}

#[test]
#[should_panic(expected = "product of an empty iterator of Var")]
fn product_of_no_vars() {
    let v: Vec<Var> = Vec::new();
    let _: Var = v.into_iter().product();
}

#[test]
#[should_panic(expected = "`stack` of no values")]
fn stack_of_nothing() {
    let _ = VarArray::<f64>::stack(&[]);
}

#[test]
#[should_panic(expected = "custom rule `twice`: cotangent 0 has length 1, input 0 has 3 elements")]
fn custom_vjp_wrong_length() {
    let t = Tape::new();
    let x = t.vector(v3());
    let y = t.custom(
        "twice",
        &[&x],
        x.value().iter().map(|v| v * 2.0).collect(),
        &[3],
        |_c| vec![vec![c64(1.0, 0.0)]],
    );
    let _ = y.norm_sqr_sum().backward();
}

#[test]
#[should_panic(expected = "custom rule `pair`: the VJP returned 1 cotangents for 2 inputs")]
fn custom_vjp_wrong_count() {
    let t = Tape::new();
    let x = t.vector(v3());
    let w = t.vector(v3());
    let y = t.custom("pair", &[&x, &w], v3(), &[3], |c| vec![c.to_vec()]);
    let _ = y.sum().backward();
}

#[test]
#[should_panic(expected = "custom rule `second`: cotangent 1 has length 3, input 1 has 6 elements")]
fn custom_vjp_wrong_length_second_input() {
    let t = Tape::new();
    let x = t.vector(v3());
    let w = t.vector(v6());
    let y = t.custom("second", &[&x, &w], v3(), &[3], |c| {
        vec![c.to_vec(), c.to_vec()]
    });
    let _ = y.sum().re().backward();
}

#[test]
#[should_panic(expected = "`custom`: data of length 3 does not fit shape [2]")]
fn custom_value_does_not_fit_shape() {
    let t = Tape::new();
    let x = t.vector(v3());
    let _ = t.custom("custom", &[&x], v3(), &[2], |c| vec![c.to_vec()]);
}

/// A new tape stored where a dropped one was must not pass for it: tapes carry unique ids.
#[test]
#[should_panic(expected = "asked about a variable of another tape")]
fn gradients_of_a_dropped_tape_asked_about_a_new_tape_at_the_same_address() {
    let mut t = Tape::new();
    let g = {
        let z = t.var(c64(3.0, 4.0));
        z.norm_sqr().backward()
    };
    // Drops the old tape and puts a different one at the same address.
    t = Tape::new();
    let w = t.var(c64(100.0, 0.0));
    let _ = g.dz(&w);
}

/// The same after `Tape::clear`: the cleared tape has a new id.
#[test]
#[should_panic(expected = "Gradients::dz")]
fn gradients_of_a_cleared_tape() {
    let mut t = Tape::new();
    let g = {
        let z = t.var(c64(3.0, 4.0));
        z.norm_sqr().backward()
    };
    t.clear();
    let w = t.var(c64(100.0, 0.0));
    let _ = g.dz(&w);
}
