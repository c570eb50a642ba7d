//! Settings of a process that runs the log: `ledger`, `replay-tool` and the benches that
//! measure them call this first thing, so they run as the binaries do. (It lives here because
//! every binary and bench of the workspace builds on this crate.)

/// Turns transparent huge pages off for this process (and the processes it starts).
///
/// mimalloc asks the kernel for huge pages where it may (and with THP in `always` mode the
/// kernel gives them unasked); each first touch of such a region makes the kernel zero a
/// whole 2 MiB page, even where a few KiB are used. (mimalloc's `no_thp` feature only stops
/// it asking, which does not help in `always` mode.) In `replay verify` of the 10 M-event log
/// the zeroing was 12 % of all CPU. Profiled under `ledger bench` at C=32, that zeroing
/// (`clear_page_erms`) was 4–16 % of the serve's CPU and of its clients'; without huge pages
/// the serve used 1.33–1.39 ms of CPU per order instead of 1.34–1.71, and the clients 0.61–0.68
/// instead of 0.91–1.25 (BENCHMARKS.md). Redis and MongoDB advise the same for their servers.
/// Failing is harmless: the process runs as before.
#[allow(unsafe_code)]
pub fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not turn transparent huge pages off"
        );
    }
}
