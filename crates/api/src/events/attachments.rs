//! Photos and documents on reports and steps (现场照片). A client uploads each file first
//! (`POST /api/v1/attachments`, the raw bytes with their `Content-Type`), then names the ids in a
//! report or an action; the file becomes the case's at that history line. The declared type must
//! be one we accept and must match the file's own signature (its magic bytes): a renamed
//! executable is refused. Files are kept in the database and served back to whoever may see the
//! case.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_store::{Attachment, AttachmentMeta};

use crate::auth::Principal;
use crate::people::iso;
use crate::{AppError, AppState};

/// The most an upload route reads before it judges the size against `events.max_attachment_mb`.
pub const UPLOAD_CEILING: usize = 64 << 20;

/// The media types accepted, each recognised by its signature.
const ACCEPTED: [&str; 7] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "application/pdf",
    "video/mp4",
];

/// The media type a file's first bytes announce, if it is one we accept.
pub fn sniff(b: &[u8]) -> Option<&'static str> {
    let ftyp =
        |brands: &[&[u8]]| b.len() >= 12 && &b[4..8] == b"ftyp" && brands.contains(&&b[8..12]);
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if b.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if ftyp(&[b"heic", b"heix", b"mif1", b"msf1", b"hevc"]) {
        Some("image/heic")
    } else if ftyp(&[b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"M4V "]) {
        Some("video/mp4")
    } else {
        None
    }
}

/// The declared type, normalised (`image/jpg` is a common alias; parameters are dropped).
fn declared(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let t = v.split(';').next()?.trim().to_ascii_lowercase();
    Some(if t == "image/jpg" {
        "image/jpeg".into()
    } else {
        t
    })
}

/// A file name safe to store and to echo in a header: no path, no control characters, at most
/// 100 characters.
fn clean_name(name: Option<&str>, content_type: &str) -> String {
    let base = name
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control() && *c != '"')
                .take(100)
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty());
    base.unwrap_or_else(|| {
        let ext = content_type.rsplit('/').next().unwrap_or("bin");
        format!("attachment.{ext}")
    })
}

/// An attachment on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentDto {
    /// Id: name it in a report's or an action's `attachments`.
    pub id: String,
    /// File name.
    pub name: String,
    /// Checked media type.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Where to fetch it.
    pub url: String,
    /// The case history line it came with (1: the report), once attached.
    pub history_seq: Option<i64>,
    /// Uploaded (RFC 3339).
    pub created_at: String,
}

impl AttachmentDto {
    /// The wire form of a stored description.
    pub fn of(m: &AttachmentMeta) -> AttachmentDto {
        AttachmentDto {
            id: m.id.clone(),
            name: m.name.clone(),
            content_type: m.content_type.clone(),
            size: m.size,
            sha256: m.sha256.clone(),
            url: format!("/api/v1/attachments/{}", m.id),
            history_seq: m.history_seq,
            created_at: iso(m.created_at),
        }
    }
}

/// Upload options.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The file's name, for people (defaults to `attachment.<type>`).
    name: Option<String>,
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(UPLOAD_CEILING))
        .merge(OpenApiRouter::new().routes(routes!(download)))
}

/// Uploads a photo or document: the raw bytes as the body, with their `Content-Type`
/// (`image/jpeg`, `image/png`, `image/gif`, `image/webp`, `image/heic`, `application/pdf`,
/// `video/mp4`). The bytes must be what the type says. At most `events.max_attachment_mb` (10
/// MB by default). Name the returned id in a report's or action's `attachments` within a day;
/// files never attached are deleted after that.
#[utoipa::path(post, path = "/api/v1/attachments", tag = "events", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 201, body = AttachmentDto),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 413, body = crate::error::ErrorEnvelope, description = "`attachment_too_large`"),
        (status = 415, body = crate::error::ErrorEnvelope, description = "`unsupported_media_type`: a type we do not take, or bytes that are not of the declared type"),
        (status = 429, body = crate::error::ErrorEnvelope),
))]
async fn upload(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<AttachmentDto>), AppError> {
    if !super::is_staff(&p) {
        state
            .throttle
            .intake_check(&p.account.id)
            .map_err(AppError::TooManyRequests)?;
    }
    let max = state.hub.max_attachment_bytes;
    if body.len() > max {
        return Err(AppError::TooLarge(format!(
            "附件不得超过 {} 字节 / an attachment has at most {max} bytes, this one {}",
            max,
            body.len()
        )));
    }
    if body.is_empty() {
        return Err(AppError::field(
            "empty_attachment",
            "attachment",
            "附件为空 / the attachment is empty",
        ));
    }
    let declared = declared(&headers).unwrap_or_default();
    if !ACCEPTED.contains(&declared.as_str()) {
        return Err(AppError::UnsupportedMediaType(format!(
            "不接受的类型 {declared:?}；可用 {} / type not accepted; use one of {}",
            ACCEPTED.join(", "),
            ACCEPTED.join(", ")
        )));
    }
    match sniff(&body) {
        Some(actual) if actual == declared => {}
        actual => {
            return Err(AppError::UnsupportedMediaType(format!(
                "文件内容不是 {declared}（识别为 {}） / the bytes are not {declared} (they look like {})",
                actual.unwrap_or("未知"),
                actual.unwrap_or("nothing we accept")
            )));
        }
    }
    let meta = AttachmentMeta {
        id: uuid::Uuid::now_v7().to_string(),
        owner: p.account.id.clone(),
        case_id: None,
        history_seq: None,
        name: clean_name(q.name.as_deref(), &declared),
        content_type: declared,
        size: body.len() as u64,
        sha256: hex::encode(Sha256::digest(&body)),
        created_at: state.clock.now_ms(),
    };
    state
        .store
        .put_attachment(&Attachment {
            meta: meta.clone(),
            data: body.to_vec(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(AttachmentDto::of(&meta))))
}

/// Fetches an attachment: its uploader, and whoever may see the case it belongs to.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "events", responses(
    (status = 200, description = "The file, with its checked type", content_type = "application/octet-stream"),
    (status = 401, body = crate::error::ErrorEnvelope),
    (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn download(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let not_found = || AppError::NotFound("没有这个附件 / no such attachment".into());
    let meta = state
        .store
        .attachment_meta(&id)
        .await?
        .ok_or_else(not_found)?;
    let visible = meta.owner == p.account.id
        || match &meta.case_id {
            Some(case) => state.store.case(&p.scope, case).await?.is_some(),
            None => false,
        };
    if !visible {
        return Err(not_found());
    }
    let file = state.store.attachment(&id).await?.ok_or_else(not_found)?;
    let mut response = file.data.into_response();
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).map_err(|_| not_found());
    h.insert(header::CONTENT_TYPE, value(&meta.content_type)?);
    h.insert(header::ETAG, value(&format!("\"{}\"", meta.sha256))?);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    // Never let a served file run as a page of ours.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    let ascii: String = meta
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    h.insert(
        header::CONTENT_DISPOSITION,
        value(&format!("inline; filename=\"{ascii}\""))?,
    );
    Ok(response)
}

/// Checks that a report or step may name these uploads: each exists, was uploaded by the
/// caller, belongs to no case yet, and there are not too many. Returns their descriptions, in
/// order, without repeats.
pub(crate) async fn check(
    state: &AppState,
    owner: &str,
    ids: Option<&[String]>,
) -> Result<Vec<AttachmentMeta>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for id in ids.unwrap_or_default() {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    let max = state.hub.max_attachments;
    if out.len() > max {
        return Err(AppError::field(
            "too_many_attachments",
            "attachments",
            format!("最多 {max} 个附件 / at most {max} attachments"),
        ));
    }
    let mut metas = Vec::with_capacity(out.len());
    for id in &out {
        let meta = state
            .store
            .attachment_meta(id)
            .await?
            .filter(|m| m.owner == owner && m.case_id.is_none());
        let Some(meta) = meta else {
            return Err(AppError::field(
                "unknown_attachment",
                "attachments",
                format!(
                    "附件 {id} 不存在、不是你上传的或已被使用 / attachment {id} does not exist, is not yours, or is attached already"
                ),
            ));
        };
        metas.push(meta);
    }
    Ok(metas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_known_by_their_signature() {
        let cases: [(&[u8], Option<&str>); 9] = [
            (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", Some("image/jpeg")),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png")),
            (b"GIF89a\x01\x00", Some("image/gif")),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"%PDF-1.7\n", Some("application/pdf")),
            (b"\0\0\0\x18ftypheic\0\0\0\0", Some("image/heic")),
            (b"\0\0\0\x18ftypisom\0\0\x02\0", Some("video/mp4")),
            (b"MZ\x90\0\x03\0\0\0", None),
            (b"<html><script>", None),
        ];
        for (bytes, expect) in cases {
            assert_eq!(sniff(bytes), expect, "{bytes:?}");
        }
    }

    #[test]
    fn names_lose_paths_and_quotes() {
        assert_eq!(
            clean_name(Some("../../etc/\"passwd\""), "image/png"),
            "passwd"
        );
        assert_eq!(
            clean_name(Some("C:\\photos\\井盖.jpg"), "image/jpeg"),
            "井盖.jpg"
        );
        assert_eq!(clean_name(None, "image/png"), "attachment.png");
        assert_eq!(clean_name(Some("  "), "application/pdf"), "attachment.pdf");
    }
}
