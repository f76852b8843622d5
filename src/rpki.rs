//! `--rpki-vrps`: the VRP file, read, hashed and parsed once before the scan sends any query
//! (the judging is [`crate::checks::rpki`]'s). A file that cannot be read or parsed stops the
//! scan at its start, so no run ever judges routes against half a set.

use std::path::{Path, PathBuf};

use crate::checks::rpki::VrpSet;
use crate::checks::rpki::vrps::{self, VrpError, VrpFormat};

/// A VRP set and the file it came from, for run.json.
#[derive(Debug, Clone)]
pub struct VrpFile {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lowercase hex (what `sha256sum` prints): which snapshot of
    /// the RPKI a scan was judged against.
    pub sha256: String,
    pub format: VrpFormat,
    pub set: VrpSet,
}

/// Why `--rpki-vrps` cannot be used. The message names the file; the reason is the source
/// (main.rs prints the chain).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VrpFileError {
    #[error("--rpki-vrps {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--rpki-vrps {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: VrpError,
    },
}

impl VrpFile {
    /// Reads the whole file: an export of the full RPKI is some 50-100 MB, read once.
    pub fn read(path: &Path) -> Result<VrpFile, VrpFileError> {
        let bytes = std::fs::read(path).map_err(|source| VrpFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// The set in `bytes`, read from `path`.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<VrpFile, VrpFileError> {
        let (set, format) = vrps::parse(bytes).map_err(|source| VrpFileError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let sha256 = digest.as_ref().iter().fold(String::new(), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        });
        Ok(VrpFile {
            path: path.to_path_buf(),
            sha256,
            format,
            set,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vrps.csv");
        std::fs::write(
            &path,
            "ASN,IP Prefix,Max Length,Trust Anchor\nAS1,192.0.2.0/24,24,x\n",
        )
        .unwrap();
        let f = VrpFile::read(&path).unwrap();
        assert_eq!(f.set.len(), 1);
        assert_eq!(f.format, VrpFormat::Csv);
        // What sha256sum prints for the file.
        assert_eq!(
            f.sha256,
            "39878fd3507428ba9d1a563589b4b8d0a90cedaf2720adaae914e22408be41bd"
        );
        // The message and its source, as main.rs prints them.
        let chain = |e: VrpFileError| {
            let source = std::error::Error::source(&e).map(|s| s.to_string());
            format!("{e}: {}", source.unwrap_or_default())
        };
        std::fs::write(&path, "ASN,IP Prefix,Max Length\nAS1,192.0.2.0/24,99\n").unwrap();
        let e = chain(VrpFile::read(&path).unwrap_err());
        assert!(
            e.starts_with("--rpki-vrps ") && e.contains("vrps.csv: line 2: max length 99"),
            "{e}"
        );
        let e = chain(VrpFile::read(&dir.path().join("none.json")).unwrap_err());
        assert!(e.contains("none.json: No such file"), "{e}");
    }
}
