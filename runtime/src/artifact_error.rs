//! Why an artifact was refused (`ErrorKind::IncompatibleArtifact`). Apart from
//! `artifact/` so that `error` names nothing that names it back.

use std::fmt;

/// The class of an artifact's refusal ([`ArtifactError::reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArtifactRefusal {
    /// No artifact magic: not a file `Module::serialize` wrote.
    NotAnArtifact,
    /// Written in another artifact format version.
    FormatVersion,
    /// Written by another version or build of Kiln.
    KilnVersion,
    /// Compiled with other settings (optimization level, fuel, epochs, bounds checks,
    /// code placement, ...).
    Settings,
    /// Compiled for CPU features this engine does not use.
    CpuFeatures,
    /// The MAC does not match: written with another key, or changed since.
    Mac,
    /// Shorter than its own layout says: cut off.
    Truncated,
    /// Authentic, but its contents do not decode (a Kiln bug, or a forged key).
    Malformed,
    /// The file could not be read.
    Io,
}

/// An artifact that Kiln refused to load, and why. Nothing of it was executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactError {
    reason: ArtifactRefusal,
    detail: String,
}

impl ArtifactError {
    pub(crate) fn new(reason: ArtifactRefusal, detail: impl Into<String>) -> Self {
        ArtifactError {
            reason,
            detail: detail.into(),
        }
    }

    /// The class of refusal.
    pub fn reason(&self) -> ArtifactRefusal {
        self.reason
    }

    /// What exactly differed or failed.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.reason {
            ArtifactRefusal::NotAnArtifact => "not a Kiln artifact",
            ArtifactRefusal::FormatVersion => "another artifact format",
            ArtifactRefusal::KilnVersion => "written by another build of Kiln",
            ArtifactRefusal::Settings => "compiled with other settings",
            ArtifactRefusal::CpuFeatures => "compiled for other CPU features",
            ArtifactRefusal::Mac => "MAC mismatch (another key, or modified)",
            ArtifactRefusal::Truncated => "truncated",
            ArtifactRefusal::Malformed => "malformed",
            ArtifactRefusal::Io => "unreadable",
        };
        write!(f, "{reason}: {}", self.detail)
    }
}

impl std::error::Error for ArtifactError {}
