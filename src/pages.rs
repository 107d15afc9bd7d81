//! Large buffers on transparent huge pages (Linux).
//!
//! The passes over a large field touch it with big strides: the column pass of a 1024² FFT reads
//! one 16-byte element from each of 1024 rows 16 KiB apart, 1024 different 4 KiB pages, before
//! it moves on. With 4 KiB pages that is a miss in the TLB (the processor's cache of address
//! translations) on almost every row. A 2 MiB page covers 128 such rows, so a 16 MiB field needs
//! 8 translations instead of 4096.
//!
//! Linux gives huge pages to anonymous memory that asks for them (`madvise(MADV_HUGEPAGE)`) when
//! transparent huge pages are in `madvise` mode, the common default (and to all of it in `always`
//! mode; none in `never` mode). [`with_capacity`] asks, for the whole 2 MiB pages inside a buffer
//! of at least 2 MiB, before the buffer is first written, since only memory not yet touched gets
//! huge pages at once. It is advice: where the kernel has no huge page to give, the buffer keeps
//! small pages and works the same. Elsewhere than Linux, nothing is asked.
//!
//! (glibc's `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` asks the same for every large allocation of a
//! process; this asks it for the crate's array buffers only, with no setting needed.)
//!
//! The advice stays on that memory after the buffer is freed and the allocator reuses it, and with
//! the kernel's `defrag` setting at `madvise` (a common default) a page fault in it may wait for
//! the kernel to assemble a huge page. Set the environment variable `WIRTINGER_HUGE_PAGES=0`
//! before the first large buffer is made to not ask at all. The 2 MiB size is that of x86-64 and
//! aarch64 with 4 KiB base pages; elsewhere the advice covers whole 2 MiB ranges all the same.

/// Bytes in one huge page on x86-64 and aarch64 with 4 KiB base pages.
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// An empty `Vec` with room for `n` elements; when that is at least 2 MiB, the whole 2 MiB pages
/// inside it are advised to be huge pages (see the module docs).
pub(crate) fn with_capacity<U>(n: usize) -> Vec<U> {
    let v: Vec<U> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    if wanted() {
        advise(v.as_ptr() as usize, v.capacity() * std::mem::size_of::<U>());
    }
    v
}

/// Whether to ask: unless `WIRTINGER_HUGE_PAGES=0` (read once).
#[cfg(target_os = "linux")]
fn wanted() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| std::env::var_os("WIRTINGER_HUGE_PAGES").map_or(true, |v| v != "0"))
}

/// `madvise(MADV_HUGEPAGE)` on the whole huge pages inside `[start, start + bytes)`.
#[cfg(target_os = "linux")]
fn advise(start: usize, bytes: usize) {
    if let Some((first, end)) = huge_pages_inside(start, bytes) {
        // SAFETY: the range lies inside an allocation this process owns; MADV_HUGEPAGE changes
        // only how the kernel backs it, never its contents or its mapping. The result is ignored:
        // where the advice is refused (no THP support), the memory works as before.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

/// The range `[first, end)` of the whole huge pages inside `[start, start + bytes)`, if any.
#[cfg(target_os = "linux")]
fn huge_pages_inside(start: usize, bytes: usize) -> Option<(usize, usize)> {
    let first = start.checked_next_multiple_of(HUGE)?;
    let end = start.checked_add(bytes)? / HUGE * HUGE;
    (end > first).then_some((first, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_of_any_size_are_usable() {
        for n in [0, 1, 1000, (2 << 20) / 16 + 3, (8 << 20) / 16] {
            let mut v: Vec<num_complex::Complex<f64>> = with_capacity(n);
            assert!(v.capacity() >= n);
            v.resize(n, num_complex::Complex::new(1.0, -1.0));
            assert!(v.iter().all(|z| z.re == 1.0 && z.im == -1.0));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_whole_huge_pages_inside_the_buffer_are_advised() {
        const MIB: usize = 1 << 20;
        // Too small, or no whole huge page inside: nothing.
        assert_eq!(huge_pages_inside(4096, MIB), None);
        assert_eq!(huge_pages_inside(MIB, 2 * MIB + 4096), None);
        assert_eq!(huge_pages_inside(MIB, 3 * MIB), Some((2 * MIB, 4 * MIB)));
        // Aligned: all of it.
        assert_eq!(
            huge_pages_inside(2 * MIB, 4 * MIB),
            Some((2 * MIB, 6 * MIB))
        );
        // A 16 MiB buffer at a 4 KiB boundary: the seven whole huge pages inside.
        let start = 6 * MIB + 4096;
        let (first, end) = huge_pages_inside(start, 16 * MIB).unwrap();
        assert_eq!((first, end), (8 * MIB, 22 * MIB));
        assert!(first >= start && end <= start + 16 * MIB);
        // At the top of the address space: no overflow.
        assert_eq!(huge_pages_inside(usize::MAX - MIB, 4 * MIB), None);
    }
}
