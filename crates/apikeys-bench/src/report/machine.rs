//! What a report says about where and how it was made: the machine and the command line.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub loadavg_at_start: String,
    pub loadavg_at_end: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned()),
            loadavg_at_start: loadavg(),
            loadavg_at_end: String::new(),
        }
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The command as typed, for the report, with any password in a URL argument (such as
/// `--postgres-url postgres://user:password@host/db`) masked: reports get pasted and shared.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| without_url_password(&arg))
        .map(|arg| {
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                format!("'{arg}'")
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `scheme://user:password@rest` as `scheme://user:***@rest`; anything else unchanged.
fn without_url_password(arg: &str) -> String {
    let masked = arg.split_once("://").and_then(|(scheme, rest)| {
        let (credentials, host) = rest.split_once('@')?;
        let (user, _password) = credentials.split_once(':')?;
        Some(format!("{scheme}://{user}:***@{host}"))
    });
    masked.unwrap_or_else(|| arg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::without_url_password;

    #[test]
    fn command_line_masks_url_passwords() {
        assert_eq!(
            without_url_password("postgres://app:s3cret@db:5432/apikeys"),
            "postgres://app:***@db:5432/apikeys"
        );
        for unchanged in [
            "postgres://postgres@127.0.0.1:5432/test",
            "--postgres-url",
            "a:b@c",
        ] {
            assert_eq!(without_url_password(unchanged), unchanged);
        }
    }
}
