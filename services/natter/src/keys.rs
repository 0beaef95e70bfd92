//! `natter keys`: the operator's side of the vault.

use clap::{Args, Subcommand};
use natter_common::config::Connections;

use crate::{StreamArgs, open_log_and_keys};

/// `natter keys ...`
#[derive(Args)]
pub struct KeysArgs {
    #[command(flatten)]
    conn: Connections,
    #[command(flatten)]
    stream: StreamArgs,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Rewrap every key in the key bucket with the current key-encryption key (the first line
    /// of NATTER_KEK_FILE; the older lines must still be there). Afterwards remove the old
    /// lines: keys destroyed before the rotation cannot be unwrapped from old copies of the
    /// bucket any more. Safe to run again, and while natter runs.
    Rotate,
}

pub async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let (_bus, vault) = open_log_and_keys(&args.conn, &args.stream, "natter-keys").await?;
    match args.command {
        KeysCommand::Rotate => {
            let rewrapped = vault.keys().rewrap_all().await?;
            println!("{rewrapped} keys rewrapped with the current key-encryption key");
            Ok(())
        }
    }
}
