//! The command line, completed by an optional TOML config file.
//!
//! Every key of the file is a long flag name and its value becomes that flag's default, so clap
//! itself gives the precedence: flag > `APIKEYS_*` variable > config file > built-in default.
//! One list of settings (the clap definitions) serves all three sources and `--print-config`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use apikeys_store::DatabaseUrl;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cmd::args::Cli;

/// Settings whose values `--print-config` never shows.
const SECRET_SETTINGS: &[&str] = &["jwt-hs256-secret"];
/// Flags that are actions or the file itself, not settings.
const NOT_SETTINGS: &[&str] = &["config", "check-config", "print-config", "help", "version"];
/// A config file is a few hundred bytes; anything this large is not one.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("config file {path} is not valid TOML: {reason}")]
    Syntax { path: PathBuf, reason: String },
    #[error(
        "config file {path}: unknown setting `{key}` (settings are the long flag names of \
         `apikeys serve --help`, without the dashes)"
    )]
    UnknownSetting { path: PathBuf, key: String },
    #[error("config file {path}: `{key}` {reason}")]
    BadValue {
        path: PathBuf,
        key: String,
        reason: &'static str,
    },
}

/// The parsed command line and what `--print-config` needs to explain it.
pub struct CommandLine {
    pub cli: Cli,
    pub effective: EffectiveConfig,
}

/// Parses the process arguments; prints usage and exits on a command-line error, like clap.
pub fn parse() -> Result<CommandLine, ConfigError> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let (command, file) = command_with_file_defaults(&args)?;
    let matches = command
        .try_get_matches_from(&args)
        .unwrap_or_else(|e| e.exit());
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    Ok(CommandLine {
        cli,
        effective: EffectiveConfig { matches, file },
    })
}

/// Settings that came from the config file, by long flag name.
struct FileSettings {
    path: PathBuf,
    keys: BTreeSet<String>,
}

fn command_with_file_defaults(
    args: &[OsString],
) -> Result<(clap::Command, Option<FileSettings>), ConfigError> {
    let command = Cli::command();
    // A lenient first pass only to find `--config` / APIKEYS_CONFIG; the real parse follows.
    let config_path = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()
        .and_then(|matches| matches.get_one::<PathBuf>("config").cloned());
    let Some(path) = config_path else {
        return Ok((command, None));
    };
    let table = read_table(&path)?;
    let mut command = command;
    let mut keys = BTreeSet::new();
    for (key, value) in table {
        let values = setting_values(&path, &key, value)?;
        command = apply_default(command, &path, &key, values)?;
        keys.insert(key);
    }
    Ok((command, Some(FileSettings { path, keys })))
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let unreadable = |reason: String| ConfigError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| unreadable(e.to_string()))?
        .len();
    if size > MAX_CONFIG_BYTES {
        return Err(unreadable(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    text.parse::<toml::Table>().map_err(|e| {
        // toml's full message quotes the offending line, which may hold a secret
        // (`jwt-hs256-secret = "…`): name the line, not its content.
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        ConfigError::Syntax {
            path: path.to_owned(),
            reason: match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_owned(),
            },
        }
    })
}

fn setting_values(path: &Path, key: &str, value: toml::Value) -> Result<Vec<String>, ConfigError> {
    let bad = |reason| ConfigError::BadValue {
        path: path.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let scalar = |value: toml::Value| match value {
        toml::Value::String(text) => Ok(text),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        _ => Err(bad("must be a string, number, boolean or a list of them")),
    };
    match value {
        toml::Value::Array(items) => items.into_iter().map(scalar).collect(),
        other => scalar(other).map(|one| vec![one]),
    }
}

/// Makes `values` the default of the flag named `key`, wherever it is defined: on the top level
/// (global flags) or on any subcommand, so one file serves `serve`, `migrate` and `accounts`.
fn apply_default(
    command: clap::Command,
    path: &Path,
    key: &str,
    values: Vec<String>,
) -> Result<clap::Command, ConfigError> {
    let unknown = || ConfigError::UnknownSetting {
        path: path.to_owned(),
        key: key.to_owned(),
    };
    if NOT_SETTINGS.contains(&key) {
        return Err(unknown());
    }
    let id_of = |cmd: &clap::Command| {
        cmd.get_arguments()
            .find(|arg| arg.get_long() == Some(key))
            .map(|arg| arg.get_id().clone())
    };
    if let Some(id) = id_of(&command) {
        return Ok(command.mut_arg(id, |arg| arg.default_values(values)));
    }
    let owners: Vec<(String, clap::Id)> = command
        .get_subcommands()
        .filter_map(|sub| id_of(sub).map(|id| (sub.get_name().to_owned(), id)))
        .collect();
    if owners.is_empty() {
        return Err(unknown());
    }
    let mut command = command;
    for (name, id) in owners {
        let values = values.clone();
        command = command.mut_subcommand(name, |sub| {
            sub.mut_arg(id, |arg| arg.default_values(values))
        });
    }
    Ok(command)
}

/// The parsed matches, kept to report every setting with its value and where it came from.
pub struct EffectiveConfig {
    matches: ArgMatches,
    file: Option<FileSettings>,
}

impl EffectiveConfig {
    /// The effective settings of `subcommand` as a TOML document that can be fed back with
    /// `--config`, each line annotated with its source; secrets are redacted.
    pub fn render(&self, subcommand: &str) -> String {
        let root = Cli::command();
        let Some(sub) = root.find_subcommand(subcommand) else {
            return String::new();
        };
        let sub_matches = self.matches.subcommand_matches(subcommand);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Effective settings of `apikeys {subcommand}`\n\
             # precedence: flag > APIKEYS_* variable > config file{} > default",
            self.file
                .as_ref()
                .map(|file| format!(" ({})", file.path.display()))
                .unwrap_or_default()
        );
        let globals = root.get_arguments().map(|arg| (arg, &self.matches));
        let locals = sub
            .get_arguments()
            .filter_map(|arg| sub_matches.map(|matches| (arg, matches)));
        for (arg, matches) in globals.chain(locals) {
            let Some(long) = arg.get_long() else { continue };
            if NOT_SETTINGS.contains(&long) {
                continue;
            }
            let _ = writeln!(out, "{}", self.line(long, arg.get_id().as_str(), matches));
        }
        out
    }

    fn line(&self, long: &str, id: &str, matches: &ArgMatches) -> String {
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue)
                if self.file.as_ref().is_some_and(|f| f.keys.contains(long)) =>
            {
                "config file"
            }
            Some(ValueSource::DefaultValue) => "default",
            _ => return format!("# {long} = (unset)"),
        };
        if values.is_empty() {
            return format!("# {long} = (unset)");
        }
        let shown: Vec<String> = values.iter().map(|value| redact(long, value)).collect();
        let rendered = if shown.len() == 1 {
            toml::Value::String(shown[0].clone()).to_string()
        } else {
            toml::Value::Array(shown.into_iter().map(toml::Value::String).collect()).to_string()
        };
        format!("{long} = {rendered}  # {source}")
    }
}

fn redact(long: &str, value: &str) -> String {
    if SECRET_SETTINGS.contains(&long) {
        return "<redacted>".to_owned();
    }
    if long == "database-url" {
        return DatabaseUrl::parse(value)
            .map(|url| url.redacted().to_string())
            .unwrap_or_else(|_| "<invalid, redacted>".to_owned());
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::cmd::args::Command;

    fn parse_with_file(toml: &str, args: &[&str]) -> Result<CommandLine, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(toml.as_bytes()).unwrap();
        let mut argv: Vec<OsString> = vec!["apikeys".into()];
        argv.extend(args.iter().map(OsString::from));
        argv.push("--config".into());
        argv.push(file.path().into());
        let (command, file_settings) = command_with_file_defaults(&argv)?;
        let matches = command.try_get_matches_from(&argv).unwrap();
        Ok(CommandLine {
            cli: Cli::from_arg_matches(&matches).unwrap(),
            effective: EffectiveConfig {
                matches,
                file: file_settings,
            },
        })
    }

    fn serve_args(line: &CommandLine) -> &crate::cmd::args::ServeArgs {
        match &line.cli.command {
            Command::Serve(args) => args,
            _ => panic!("serve expected"),
        }
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let line = parse_with_file(
            "listen = \"127.0.0.1:7000\"\nmax-active-keys = 3\n\
             database-url = \"sqlite://from-file.db\"\n\
             tls-client-allowed-subject = [\"gw-a\", \"gw-b\"]\n",
            &["serve", "--max-active-keys", "4"],
        )
        .unwrap();
        let args = serve_args(&line);
        assert_eq!(args.listen.port(), 7000);
        assert_eq!(args.max_active_keys, 4);
        assert_eq!(args.tls.tls_client_allowed_subject, ["gw-a", "gw-b"]);
        assert_eq!(line.cli.global.database_url, "sqlite://from-file.db");
        let printed = line.effective.render("serve");
        assert!(
            printed.contains("listen = \"127.0.0.1:7000\"  # config file"),
            "{printed}"
        );
        assert!(
            printed.contains("max-active-keys = \"4\"  # flag"),
            "{printed}"
        );
        assert!(
            printed.contains("request-timeout-ms = \"10000\"  # default"),
            "{printed}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let unknown = parse_with_file("lisen = \"x\"\n", &["serve"])
            .err()
            .unwrap();
        assert!(unknown.to_string().contains("`lisen`"), "{unknown}");
        let table = parse_with_file("listen = { a = 1 }\n", &["serve"])
            .err()
            .unwrap();
        assert!(table.to_string().contains("`listen`"), "{table}");
        let syntax = parse_with_file("listen = \n", &["serve"]).err().unwrap();
        assert!(matches!(syntax, ConfigError::Syntax { .. }));
        let quoted = parse_with_file(
            "listen = \"x\"\njwt-hs256-secret = \"s3cr3t-value\n",
            &["serve"],
        )
        .err()
        .unwrap();
        assert!(quoted.to_string().contains("line 2"), "{quoted}");
        assert!(!quoted.to_string().contains("s3cr3t-value"), "{quoted}");
        let action = parse_with_file("check-config = true\n", &["serve"])
            .err()
            .unwrap();
        assert!(matches!(action, ConfigError::UnknownSetting { .. }));
    }

    #[test]
    fn printed_config_redacts_secrets() {
        let line = parse_with_file(
            "database-url = \"postgres://app:hunter2@db:5432/keys\"\n\
             jwt-hs256-secret = \"s3cr3t-value\"\njwt-issuer = \"i\"\njwt-audience = \"a\"\n",
            &["serve"],
        )
        .unwrap();
        let printed = line.effective.render("serve");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        assert!(
            printed.contains("jwt-hs256-secret = \"<redacted>\""),
            "{printed}"
        );
        let reparsed: toml::Table = printed.parse().unwrap();
        assert!(reparsed.contains_key("listen"));
    }
}
