//! Exit statuses in words, so a failure says whether the server exited or was killed.

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

/// `status` in words: `exit status 0`, `exit status 1`, or `killed by signal 2 (SIGINT)`. A
/// process killed by SIGINT or SIGTERM had no handler for it yet: the signal's default action
/// ended it, without a drain or a last-used flush (a shell reports that as status 130 / 143).
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code @ (130 | 143)), _) => {
            format!("exit status {code} (128 + {})", signal_name(code - 128))
        }
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => {
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            format!("killed by signal {signal} ({}{core})", signal_name(signal))
        }
        (None, None) => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "another signal",
    }
}
