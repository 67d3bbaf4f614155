//! The operator's endpoints: readiness, Prometheus metrics, reload.

use http::{StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::json;

use super::{ApiError, Request, Response, Settings, json_response, ok};
use crate::desk::Desk;

/// Ready when storage answers; names the active configuration revision.
pub(super) async fn ready(desk: &Desk) -> Result<Response, ApiError> {
    let storage = desk.storage_answers().await;
    let revision = desk.runtime().config.revision.to_string();
    match storage {
        Ok(_) => ok(json!({ "status": "ready", "revision": revision })),
        Err(e) => Ok(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "unavailable", "revision": revision, "storage": e.to_string() }),
        )),
    }
}

/// `POST /admin/reload`: the same as SIGHUP, answering with the outcome.
pub(super) async fn reload(settings: &Settings, request: &Request) -> Result<Response, ApiError> {
    let Some(token) = &settings.admin_token else {
        return Err(ApiError::not_found("route"));
    };
    let given = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(ApiError::unauthorized(
            "send the admin token as `Authorization: Bearer …`",
        ));
    }
    let (answer, answered) = tokio::sync::oneshot::channel();
    settings.reload.send(Some(answer)).await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the daemon is stopping",
        )
    })?;
    match answered.await {
        Ok(Ok(revision)) => ok(json!({ "reloaded": true, "revision": revision })),
        Ok(Err(why)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_configuration",
            format!("the configuration was not changed: {why}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the daemon is stopping",
        )),
    }
}

/// `GET /metrics`: Prometheus text, with the figures storage and the plugin
/// host keep read now.
pub(super) async fn metrics(desk: &Desk) -> Result<Response, ApiError> {
    let runtime = desk.runtime();
    let metrics = desk.metrics();
    if let Some(plugins) = &runtime.plugins {
        for (index, condition) in runtime.config.conditions.iter().enumerate() {
            let id = crate::config::ConditionId(u32::try_from(index).unwrap_or(u32::MAX));
            if let Some(s) = plugins.condition_stats(id) {
                metrics.plugin(&condition.name, "condition", s.calls, s.failures, s.micros);
            }
        }
        for (index, agent) in runtime.config.ai_agents.iter().enumerate() {
            let id = crate::config::AiAgentId(u32::try_from(index).unwrap_or(u32::MAX));
            if let Some(s) = plugins.agent_stats(id) {
                metrics.plugin(&agent.name, "ai_agent", s.calls, s.failures, s.micros);
            }
        }
    }
    let now = desk.now();
    let (lengths, backlog) = desk.gauges().await?;
    for inbox in &runtime.inboxes {
        let length = lengths
            .iter()
            .find(|(id, _)| *id == inbox.inbox.id)
            .map_or(0, |(_, n)| *n);
        let channel = &runtime.config.channel(inbox.channel).name;
        metrics.queue_length(channel, i64::try_from(length).unwrap_or(i64::MAX));
    }
    let (pending, oldest) = backlog;
    metrics.webhook_backlog(
        i64::try_from(pending).unwrap_or(i64::MAX),
        oldest.and_then(|t| (now - t).to_std().ok()),
    );
    let mut response = http::Response::new(Full::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    Ok(response)
}
