//! The secret behind `/files/{token}` capability links: `[files] secret`, or one made at random
//! on first start and kept in the data directory (`files.secret`, mode 0600).

use crate::config::Config;
use anyhow::Context as _;
use irene_outputs::files::FileLinks;
use rand::RngCore;
use std::io::Write;
use std::path::Path;

/// The file name of the generated secret in the data directory.
pub const SECRET_FILE: &str = "files.secret";

/// The link signer of this server: its secret, `[files] expire`, and the public URL when one
/// is configured (without it, notes say that files are not linked).
pub fn links(cfg: &Config) -> anyhow::Result<FileLinks> {
    let secret = match &cfg.files.secret {
        Some(s) if !s.expose().is_empty() => s.expose().as_bytes().to_vec(),
        _ => stored_secret(&cfg.data_dir)?,
    };
    Ok(FileLinks::new(
        &secret,
        cfg.files.expire,
        cfg.public_url.as_deref(),
    ))
}

/// The secret kept in `dir`, made (32 random bytes, hex) when there is none.
fn stored_secret(dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "made a new secret for file links");
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = stored_secret(dir.path()).unwrap();
        let b = stored_secret(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
