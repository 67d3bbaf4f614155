//! The one mapping from what went wrong to an HTTP status and a JSON body
//! `{"error": "<code>", "message": "<what to do>"}`.

use http::StatusCode;

use crate::desk;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code, "message": self.message })
    }
}

impl From<desk::Error> for ApiError {
    fn from(error: desk::Error) -> Self {
        let message = error.to_string();
        match error {
            desk::Error::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            desk::Error::Invalid(_) => Self::bad_request(message),
            desk::Error::Unauthorized(_) => Self::unauthorized(message),
            desk::Error::Unprocessable(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
            }
            desk::Error::Store(e) => {
                tracing::error!("storage failed: {e}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is unavailable; nothing was stored, try again",
                )
            }
        }
    }
}
