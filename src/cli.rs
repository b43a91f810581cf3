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
    /// Print a new Fernet key for SMSGATE_ENCRYPTION_KEYS.
    Keygen,
    /// Re-encrypt every stored provider secret with the first configured key. Put the new key
    /// first and keep the old ones after it; safe to stop and re-run.
    RotateKeys,
    /// Provider administration on the store (a running server picks changes up on restart;
    /// through the API they are live).
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Named API tokens with roles (the configured admin and service tokens stay as bootstrap).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The audit log of admin actions.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Statistics maintenance on the configured store (embedded or MongoDB).
    #[command(subcommand)]
    Stats(StatsCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum StatsCommand {
    /// Recompute one day's statistics (UTC) from the messages and their events, replace the
    /// stored ones in one transaction, and print what changed. Safe next to a running server.
    Rebuild {
        /// The day, as 2026-11-24.
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: chrono::NaiveDate,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; fails naming the first removed or edited entry.
    Verify {
        /// A head hash printed by an earlier `audit verify` and kept elsewhere: the chain must
        /// still contain it, which shows nothing up to that entry was rewritten since.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it once; only its SHA-256 digest is stored.
    Create {
        /// admin (everything), service (send, read messages), viewer (read-only).
        #[arg(long)]
        role: String,
        /// A label for logs and the audit log: letters, digits, '-', '_', '.'.
        #[arg(long)]
        name: String,
    },
    /// List the tokens (names, roles, dates; never the tokens).
    List,
    /// Revoke a token by name; a running server refuses it from the next request on.
    Revoke { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ProvidersCommand {
    /// Add a provider; the first one becomes the default.
    Add {
        #[arg(long)]
        name: String,
        /// 1 to 32 lower-case letters, digits or hyphens; cannot change later.
        #[arg(long)]
        slug: String,
        /// smso, twilio, vonage, http or mock.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        api_base_url: Option<String>,
        #[arg(long)]
        sender_id: Option<String>,
        #[arg(long, default_value_t = 100)]
        priority: i32,
        /// Store it inactive (never sent through until activated or updated).
        #[arg(long)]
        inactive: bool,
        #[arg(long = "feature")]
        features: Vec<String>,
        /// A JSON file with the secrets (`-` for standard input), e.g. {"apiKey": "..."}.
        #[arg(long, value_name = "PATH")]
        credentials_file: Option<PathBuf>,
        /// A JSON file with the non-secret settings.
        #[arg(long, value_name = "PATH")]
        settings_file: Option<PathBuf>,
    },
    /// List the providers (secrets only as hints).
    List,
    /// Change the given fields of a provider, by id or slug.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        api_base_url: Option<String>,
        #[arg(long)]
        sender_id: Option<String>,
        #[arg(long)]
        priority: Option<i32>,
        #[arg(long)]
        active: Option<bool>,
        /// Replaces the stored credentials (`-` for standard input).
        #[arg(long, value_name = "PATH")]
        credentials_file: Option<PathBuf>,
        #[arg(long, value_name = "PATH")]
        settings_file: Option<PathBuf>,
    },
    /// Make a provider the default (and active).
    Activate { id: String },
    /// Give an SMSO or Vonage provider a new webhook path secret, shown once; its old webhook
    /// URL answers 404 from then on.
    RotateWebhookSecret { id: String },
    /// Remove a provider (not the default while others exist).
    Remove { id: String },
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
    fn provider_commands_parse_with_credentials_from_a_file_only() {
        let cli = Cli::try_parse_from([
            "smsgate",
            "providers",
            "add",
            "--name",
            "SMSO",
            "--slug",
            "smso",
            "--kind",
            "smso",
            "--credentials-file",
            "-",
        ])
        .unwrap();
        assert!(matches!(
            cli.command_or_serve(),
            Command::Providers(ProvidersCommand::Add { credentials_file: Some(p), priority: 100, .. }) if p == Path::new("-")
        ));
        assert!(Cli::try_parse_from([
            "smsgate",
            "providers",
            "add",
            "--slug",
            "x",
            "--credentials",
            "{}"
        ])
        .is_err());
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
