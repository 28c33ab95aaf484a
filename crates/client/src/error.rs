//! What can go wrong in a session, typed. It becomes the wire and UI's
//! [`ErrorInfo`] only at the edges (the app's commands, the bot).

use std::time::Duration;

use conclave_protocol::{ErrorCode, ErrorInfo, MemberId};

use crate::signaling::{ConnectFailure, SignalingError};
use crate::tls::CertificateProblem;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("the connection to the room server was lost: {0}")]
    Lost(String),
    /// The server refused a request; its reason is kept as it came.
    #[error("{}", .error.message)]
    Refused {
        request: &'static str,
        error: ErrorInfo,
    },
    #[error("the room server did not answer `{request}` within {} s", .after.as_secs())]
    Timeout {
        request: &'static str,
        after: Duration,
    },
    #[error("the session has ended")]
    SessionEnded,
    #[error("not in a room")]
    NotJoined,
    #[error("no screen source to share")]
    NoScreenSource,
    #[error("{0}")]
    Busy(&'static str),
    #[error("the server answered `{request}` with something unexpected")]
    UnexpectedReply { request: &'static str },
    #[error("{0}")]
    Unsupported(String),
    #[error("no member {0} in this room")]
    NoSuchMember(MemberId),
    /// A setting outside what can be applied.
    #[error("{0}")]
    OutOfRange(String),
    #[error("{context}: {source}")]
    Media {
        context: &'static str,
        #[source]
        source: BoxError,
    },
}

impl ClientError {
    pub fn media(context: &'static str, source: impl Into<BoxError>) -> Self {
        ClientError::Media {
            context,
            source: source.into(),
        }
    }

    /// The stable code this error has on the wire and in the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Signaling(SignalingError::Refused { error, .. }) => error.code,
            ClientError::Signaling(SignalingError::Connect {
                why: ConnectFailure::Certificate(problem),
                ..
            }) => match problem {
                CertificateProblem::Untrusted => ErrorCode::CertificateUntrusted,
                CertificateProblem::NotThePinnedOne => ErrorCode::CertificateMismatch,
                CertificateProblem::Expired => ErrorCode::CertificateExpired,
            },
            ClientError::Signaling(_) | ClientError::Lost(_) | ClientError::SessionEnded => {
                ErrorCode::ConnectionFailed
            }
            ClientError::Refused { error, .. } => error.code,
            ClientError::Timeout { .. } => ErrorCode::Timeout,
            ClientError::NotJoined => ErrorCode::NotJoined,
            ClientError::NoScreenSource | ClientError::Busy(_) => ErrorCode::InvalidState,
            ClientError::NoSuchMember(_) => ErrorCode::MemberNotFound,
            ClientError::OutOfRange(_) => ErrorCode::InvalidMessage,
            ClientError::UnexpectedReply { .. } | ClientError::Unsupported(_) => {
                ErrorCode::Internal
            }
            ClientError::Media { .. } => ErrorCode::MediaFailed,
        }
    }
}

impl From<ClientError> for ErrorInfo {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Refused { error, .. } => error,
            other => ErrorInfo::new(other.code(), other.to_string()),
        }
    }
}
