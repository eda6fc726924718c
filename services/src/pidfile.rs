//! `daemon = "file.pid"`: the node's pid, written at start and removed at exit.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A pid file that removes itself when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to `path`. Fails if another live process holds it.
    pub fn create(path: impl AsRef<Path>) -> Result<PidFile, String> {
        let path = path.as_ref().to_path_buf();
        if let Ok(old) = std::fs::read_to_string(&path) {
            if let Ok(pid) = old.trim().parse::<u32>() {
                if Path::new(&format!("/proc/{pid}")).exists() && pid != std::process::id() {
                    return Err(format!(
                        "pid file {}: process {pid} is running",
                        path.display()
                    ));
                }
            }
        }
        let mut f = std::fs::File::create(&path)
            .map_err(|e| format!("pid file {}: {e}", path.display()))?;
        writeln!(f, "{}", std::process::id())
            .map_err(|e| format!("pid file {}: {e}", path.display()))?;
        Ok(PidFile { path })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_removed() {
        let path = std::env::temp_dir().join(format!("skynet-test-{}.pid", std::process::id()));
        {
            let p = PidFile::create(&path).unwrap();
            let text = std::fs::read_to_string(p.path()).unwrap();
            assert_eq!(text.trim(), std::process::id().to_string());
        }
        assert!(!path.exists());
    }
}
