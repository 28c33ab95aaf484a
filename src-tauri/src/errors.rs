//! What an app command can fail with, typed. It becomes the UI's `ErrorInfo`
//! only in [`crate::commands`].

use conclave_client::ClientError;
use conclave_devices::DeviceError;
use conclave_protocol::{ErrorCode, ErrorInfo};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("not in a call")]
    NotInCall,
    #[error("already in a call; leave first")]
    AlreadyInCall,
    #[error("could not start the room server on this computer")]
    HostFailed,
    #[error("{0}")]
    BadLink(String),
    #[error("could not make this computer's certificate for hosting: {0}")]
    HostCertificate(String),
    #[error("the hosting settings cannot be used: {0}")]
    HostSettings(String),
    #[error("the speaker test stopped unexpectedly")]
    SpeakerTestFailed,
}

impl From<AppError> for ErrorInfo {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Client(error) => error.into(),
            AppError::Device(error) => error.into(),
            AppError::NotInCall => ErrorInfo::new(ErrorCode::NotJoined, error.to_string()),
            AppError::AlreadyInCall => ErrorInfo::new(ErrorCode::AlreadyJoined, error.to_string()),
            AppError::HostFailed => ErrorInfo::new(ErrorCode::Internal, error.to_string()),
            AppError::BadLink(_) => ErrorInfo::new(ErrorCode::InvalidMessage, error.to_string()),
            AppError::HostCertificate(_) => ErrorInfo::new(ErrorCode::Internal, error.to_string()),
            AppError::HostSettings(_) => {
                ErrorInfo::new(ErrorCode::InvalidMessage, error.to_string())
            }
            AppError::SpeakerTestFailed => {
                ErrorInfo::new(ErrorCode::DeviceFailed, error.to_string())
            }
        }
    }
}
