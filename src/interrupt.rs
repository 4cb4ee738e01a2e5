//! Ctrl-C (SIGINT) and SIGTERM (Slurm's preemption, `kubectl delete`): the first asks the command
//! to start no further run and to finish and keep the runs under way; the command then exits with
//! code 130 ([`crate::cli::exit::INTERRUPTED`], 128 + SIGINT as shells report it, for SIGTERM
//! too), and a sweep run again skips the points it finished. The second signal
//! ends the process at once (its default action); a run killed so leaves no partial output
//! ([`crate::report::outdir`]).
//!
//! For the tests, `PUSHPULL_INTERRUPT_AFTER=N` raises SIGINT in the process itself as run N+1 is
//! about to start: the real signal path, at a known moment (with one job, exactly N runs are kept).

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    REQUESTED.store(true, Ordering::SeqCst);
    const TEXT: &[u8] = b"interrupted: finishing the runs under way, starting no other (again to stop at once)\n";
    // SAFETY: write(2) and signal(2) are async-signal-safe; TEXT is a static buffer.
    unsafe {
        libc::write(2, TEXT.as_ptr().cast(), TEXT.len());
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// Installs the handler for SIGINT and SIGTERM (once; later calls do nothing).
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores an atomic and calls async-signal-safe functions.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    });
}

/// Whether a signal asked the command to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The test hook: raises SIGINT when `started` runs have started before this one, if
/// `PUSHPULL_INTERRUPT_AFTER` says so.
pub fn test_hook(started: usize) {
    let after = std::env::var("PUSHPULL_INTERRUPT_AFTER").ok().and_then(|v| v.parse::<usize>().ok());
    if after == Some(started) {
        // SAFETY: raise(3) has no preconditions.
        unsafe {
            libc::raise(libc::SIGINT);
        }
    }
}
