//! The `hookd` binary: everything lives in the library; see `cli::run`.
//! This file only picks the allocator (BENCHMARKS.md, "The allocator").

/// mimalloc, not glibc's malloc: glibc's arenas took ~12 % of the CPU under
/// load (malloc, free, consolidation). Built without transparent huge pages
/// (`no_thp`): with them, a mostly idle heap held 54 MB resident.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3.x's `mi_option_e` (libmimalloc-sys
/// `=0.1.49` vendors it, and does not name it): how long freed memory stays
/// resident before it goes back to the OS, in ms.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // mimalloc's 1 s default kept a burst's freed pages resident: 47 MB
    // under the callback load against glibc's 39. Freed memory goes back at
    // once; an operator's MIMALLOC_PURGE_DELAY still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: one thread runs so far; the option is a plain int that
        // mimalloc reads at each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    hookd::cli::run()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index names purge_delay: its default is 1000 ms in 3.x, and no
    /// neighbour's is (`options.c`).
    #[test]
    fn the_purge_delay_option_is_the_one_hookd_sets() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, 1000);
    }
}
