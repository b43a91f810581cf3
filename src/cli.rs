//! The command line: what `smsgate` was asked to do, parsed with clap, and the small commands
//! that need no running service.

use crate::config::Settings;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// smsgate: a self-hosted SMS gateway with provider failover and delivery tracking.
#[derive(Debug, Parser)]
#[command(name = "smsgate", version, about)]
pub struct Cli {
    /// The configuration file. Without it, `./smsgate.toml` is read when it exists.
    #[arg(long, global = true, env = "SMSGATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Start the gateway: both listeners and the engine (the default).
    Serve,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, then print it with secrets redacted.
    Check,
}

impl Cli {
    /// What to run: `serve` when no subcommand was given, so a bare `smsgate` starts the service.
    pub fn command_or_serve(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve)
    }
}

/// `smsgate config check`: the effective configuration, secrets redacted, ready to print; or
/// the one-line reason it was refused.
pub fn config_check(config: Option<&Path>) -> anyhow::Result<String> {
    let settings = Settings::load(config)?;
    Ok(format!(
        "# the configuration is valid; effective values:\n{}",
        settings.redacted_toml()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_bare_smsgate_serves() {
        let cli = Cli::try_parse_from(["smsgate"]).unwrap();
        assert_eq!(cli.command_or_serve(), Command::Serve);
    }

    #[test]
    fn config_check_takes_the_file_from_either_position() {
        let cli =
            Cli::try_parse_from(["smsgate", "config", "check", "--config", "/etc/s.toml"]).unwrap();
        assert_eq!(
            cli.command_or_serve(),
            Command::Config(ConfigCommand::Check)
        );
        assert_eq!(cli.config.as_deref(), Some(Path::new("/etc/s.toml")));

        let cli = Cli::try_parse_from(["smsgate", "--config", "/etc/s.toml", "serve"]).unwrap();
        assert_eq!(cli.command_or_serve(), Command::Serve);
        assert_eq!(cli.config.as_deref(), Some(Path::new("/etc/s.toml")));
    }

    #[test]
    fn config_check_reports_a_missing_file_by_its_path() {
        let err = config_check(Some(Path::new("/nonexistent/smsgate.toml"))).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/smsgate.toml"),
            "{err}"
        );
    }

    #[test]
    fn config_check_prints_the_file_values_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smsgate.toml");
        std::fs::write(
            &path,
            "max_segments = 4\nadmin_token = \"file-s3cret\"\nservice_token = \"other\"\n",
        )
        .unwrap();
        let printed = config_check(Some(&path)).unwrap();
        assert!(printed.contains("max_segments = 4"), "{printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
