//! Which handler answers a request, by its path segments.

use std::sync::Arc;

use http::Method;
use serde_json::json;

use super::{
    ApiError, Request, Response, Settings, agent, client, console, method_not_allowed, ok, openapi,
    ops,
};
use crate::desk::Desk;

pub(super) async fn route(
    desk: &Arc<Desk>,
    settings: &Settings,
    request: Request,
) -> Result<Response, ApiError> {
    let segments = request.segments();
    match segments.as_slice() {
        ["public", "api", "v1", "inboxes", inbox, rest @ ..] => {
            client::route(desk, &settings.inbox_limiter, &request, inbox, rest).await
        }
        ["api", "v1", "accounts", account, rest @ ..] => {
            if *account != crate::chatwoot::ACCOUNT_ID.to_string() {
                return Err(ApiError::not_found("account"));
            }
            agent::route(desk, &request, rest).await
        }
        ["api", "v1", "profile", "availability"] => agent::availability(desk, &request).await,
        ["api", "v1", "profile"] => agent::profile(desk, &request).await,
        ["healthz" | "readyz" | "metrics" | "openapi.json" | "cable"]
            if request.method != Method::GET =>
        {
            Err(method_not_allowed(&request.method))
        }
        [] | ["app", ..] if request.method != Method::GET => {
            Err(method_not_allowed(&request.method))
        }
        [] => Ok(console::front_page()),
        ["app", rest @ ..] => console::asset(rest),
        ["healthz"] => ok(json!({ "status": "ok" })),
        ["readyz"] => ops::ready(desk).await,
        ["metrics"] => ops::metrics(desk).await,
        ["openapi.json"] => ok(openapi::document()),
        ["admin", "reload"] if request.method == Method::POST => {
            ops::reload(settings, &request).await
        }
        ["admin", "reload"] => Err(method_not_allowed(&request.method)),
        _ => Err(ApiError::not_found("route")),
    }
}
