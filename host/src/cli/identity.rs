//! `livedesk identity-hash`: the HMAC a front end sends with a contact.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use livedesk::identity;

pub fn run(file: &Path, channel: &str, identifier: &str) -> anyhow::Result<ExitCode> {
    let (Some(config), _) = super::load(file)? else {
        return Ok(ExitCode::from(1));
    };
    let id = super::channel(&config, channel)?;
    let Some(validation) = &config.channel(id).identity_validation else {
        eprintln!("error: channel `{channel}` has no `identity_validation`");
        return Ok(ExitCode::from(1));
    };
    let secret = validation
        .secret
        .resolve()
        .with_context(|| format!("reading the identity secret of `{channel}`"))?;
    println!(
        "{}",
        identity::identifier_hash(secret.as_bytes(), identifier)
    );
    Ok(ExitCode::SUCCESS)
}
