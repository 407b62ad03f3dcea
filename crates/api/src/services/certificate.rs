//! Electronic certificates (电子证照): the signed body, Ed25519 signatures by the issuing
//! department's key, verification (signature, revocation, expiry), and the two pages a person
//! sees — the print-styled certificate with its QR code, and the public `/verify/{id}` page the
//! QR code opens.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::json;
use sha2::{Digest, Sha256};
use wanxiang_store::StoreError;
use wanxiang_store::services::{Certificate, ServiceStore, SigningKey as StoredKey};

/// A department's key, creating (and storing) one the first time it signs. Two nodes racing
/// end up with the same key: the store keeps the first.
pub async fn department_key(
    store: &dyn ServiceStore,
    department: &str,
    now: i64,
) -> Result<StoredKey, StoreError> {
    if let Some(k) = store.signing_key(department).await? {
        return Ok(k);
    }
    let mut seed = [0u8; 32];
    {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        OsRng.fill_bytes(&mut seed);
    }
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    store
        .ensure_signing_key(&StoredKey {
            department: department.to_owned(),
            key_id: key_id(&public),
            public_key: STANDARD.encode(public),
            secret_key: STANDARD.encode(seed),
            created_at: now,
        })
        .await
}

/// A key's id: the first 16 hex digits of the SHA-256 of its public key.
fn key_id(public: &[u8; 32]) -> String {
    let digest = Sha256::digest(public);
    hex::encode(&digest[..8])
}

/// What a new certificate says.
pub struct Draft<'a> {
    /// Its id.
    pub id: String,
    /// The issuing item's code.
    pub item: &'a str,
    /// The certificate's name.
    pub name: &'a str,
    /// Holder: identity number or credit code.
    pub holder: &'a str,
    /// Holder's name.
    pub holder_name: &'a str,
    /// Issuing department's code.
    pub department: &'a str,
    /// Issuing department's name.
    pub department_name: &'a str,
    /// The application.
    pub application: &'a str,
    /// The decision record behind it.
    pub decision: Option<&'a str>,
    /// Issued (Unix ms).
    pub issued_at: i64,
    /// Valid until, if it expires.
    pub expires_on: Option<String>,
}

/// Builds and signs a certificate.
pub fn issue(draft: Draft<'_>, key: &StoredKey) -> Result<Certificate, String> {
    let seed: [u8; 32] = STANDARD
        .decode(&key.secret_key)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "a secret key has 32 bytes".to_owned())?;
    let signer = SigningKey::from_bytes(&seed);
    let issued = chrono::DateTime::from_timestamp_millis(draft.issued_at)
        .map(|t| {
            t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                .to_rfc3339()
        })
        .unwrap_or_default();
    // The body is JSON with its keys in this order (serde_json keeps insertion order here), and
    // the signature covers its bytes exactly as stored.
    let body = json!({
        "format": "wanxiang-certificate/1",
        "id": draft.id,
        "name": draft.name,
        "item": draft.item,
        "holder": draft.holder,
        "holder_name": draft.holder_name,
        "issuer": { "department": draft.department, "name": draft.department_name },
        "application": draft.application,
        "decision": draft.decision,
        "issued_at": issued,
        "expires_on": draft.expires_on,
        "key_id": key.key_id,
    })
    .to_string();
    let signature = signer.sign(body.as_bytes());
    Ok(Certificate {
        id: draft.id,
        item: draft.item.to_owned(),
        name: draft.name.to_owned(),
        holder: draft.holder.to_owned(),
        holder_name: draft.holder_name.to_owned(),
        department: draft.department.to_owned(),
        application: Some(draft.application.to_owned()),
        issued_at: draft.issued_at,
        expires_on: draft.expires_on,
        revoked_at: None,
        revoked_reason: None,
        body,
        signature: STANDARD.encode(signature.to_bytes()),
        key_id: key.key_id.clone(),
    })
}

/// What checking a certificate found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Signed by its department's key, not revoked, not expired.
    Valid,
    /// Revoked by its department.
    Revoked,
    /// Past its end date.
    Expired,
    /// The signature does not match the body, or the key is not the department's.
    BadSignature,
}

impl Validity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Revoked => "revoked",
            Validity::Expired => "expired",
            Validity::BadSignature => "bad_signature",
        }
    }

    /// Chinese / English.
    pub fn label(self) -> &'static str {
        match self {
            Validity::Valid => "有效 / valid",
            Validity::Revoked => "已撤销 / revoked",
            Validity::Expired => "已过期 / expired",
            Validity::BadSignature => "签名无效 / signature does not verify",
        }
    }
}

/// Checks a certificate's signature with its department's key, then revocation and expiry.
pub fn check(c: &Certificate, key: Option<&StoredKey>, today: chrono::NaiveDate) -> Validity {
    let verified = key
        .filter(|k| k.key_id == c.key_id)
        .and_then(|k| {
            let public: [u8; 32] = STANDARD.decode(&k.public_key).ok()?.try_into().ok()?;
            let key = VerifyingKey::from_bytes(&public).ok()?;
            let sig: [u8; 64] = STANDARD.decode(&c.signature).ok()?.try_into().ok()?;
            Some(
                key.verify(c.body.as_bytes(), &Signature::from_bytes(&sig))
                    .is_ok(),
            )
        })
        .unwrap_or(false);
    if !verified {
        return Validity::BadSignature;
    }
    if c.revoked_at.is_some() {
        return Validity::Revoked;
    }
    let expired = c
        .expires_on
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_some_and(|until| until < today);
    if expired {
        Validity::Expired
    } else {
        Validity::Valid
    }
}

/// A name with all but its first character hidden (`张**`), for the public verify page.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// A holder's number with its middle hidden.
pub fn mask_holder(holder: &str) -> String {
    let n = holder.chars().count();
    if n <= 10 {
        return "*".repeat(n);
    }
    holder
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { c } else { '*' })
        .collect()
}

/// The QR code of a link, as an SVG image.
pub fn qr_svg(link: &str) -> String {
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(180, 180)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// Escapes text for HTML.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cst(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

const STYLE: &str = "body{font-family:'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;max-width:720px;margin:2em auto;color:#1a1a1a}\
.cert{border:6px double #b22;padding:2em;position:relative}h1{text-align:center;color:#b22;letter-spacing:.3em}\
dl{display:grid;grid-template-columns:9em 1fr;gap:.5em 1em}dt{color:#555}.qr{position:absolute;right:2em;bottom:2em}\
.demo{color:#b22;font-weight:bold}.status{font-size:1.4em;font-weight:bold}.valid{color:#080}.invalid{color:#b22}\
@media print{.noprint{display:none}body{margin:0}}";

/// The print-styled certificate page (print it or save it as PDF from the browser).
pub fn print_page(c: &Certificate, department_name: &str, verify_link: &str, demo: bool) -> String {
    let demo_note = if demo {
        "<p class=\"demo\">演示数据，不具法律效力 / DEMO DATA — not a legal document</p>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{name}</title><style>{STYLE}</style></head><body>\
<div class=\"cert\"><h1>{name}</h1>{demo_note}<dl>\
<dt>证照编号 / No.</dt><dd>{id}</dd>\
<dt>持证人 / Holder</dt><dd>{holder_name}</dd>\
<dt>证件号码 / ID</dt><dd>{holder}</dd>\
<dt>签发机关 / Issuer</dt><dd>{dept}</dd>\
<dt>签发时间 / Issued</dt><dd>{issued}</dd>\
<dt>有效期至 / Valid until</dt><dd>{until}</dd>\
<dt>签名密钥 / Key</dt><dd>Ed25519 {key}</dd></dl>\
<div class=\"qr\">{qr}</div><p style=\"margin-top:12em;font-size:.8em\">扫码核验 / scan to verify: {link}</p></div>\
<p class=\"noprint\"><button onclick=\"print()\">打印 / 保存为 PDF — Print / save as PDF</button></p></body></html>",
        name = esc(&c.name),
        id = esc(&c.id),
        holder_name = esc(&c.holder_name),
        holder = esc(&mask_holder(&c.holder)),
        dept = esc(department_name),
        issued = cst(c.issued_at),
        until = esc(c.expires_on.as_deref().unwrap_or("长期 / no end date")),
        key = esc(&c.key_id),
        qr = qr_svg(verify_link),
        link = esc(verify_link),
    )
}

/// The public verification page.
pub fn verify_page(c: &Certificate, validity: Validity, department_name: &str) -> String {
    let class = if validity == Validity::Valid {
        "valid"
    } else {
        "invalid"
    };
    let revoked = c
        .revoked_reason
        .as_deref()
        .map(|r| format!("<dt>撤销原因 / Reason</dt><dd>{}</dd>", esc(r)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>证照核验 / Verify</title><style>{STYLE}</style></head><body>\
<h1>证照核验 / Certificate check</h1><p class=\"status {class}\">{status}</p><dl>\
<dt>证照名称 / Name</dt><dd>{name}</dd><dt>证照编号 / No.</dt><dd>{id}</dd>\
<dt>持证人 / Holder</dt><dd>{holder_name}</dd><dt>签发机关 / Issuer</dt><dd>{dept}</dd>\
<dt>签发时间 / Issued</dt><dd>{issued}</dd><dt>有效期至 / Valid until</dt><dd>{until}</dd>{revoked}</dl></body></html>",
        status = validity.label(),
        name = esc(&c.name),
        id = esc(&c.id),
        holder_name = esc(&mask_name(&c.holder_name)),
        dept = esc(department_name),
        issued = cst(c.issued_at),
        until = esc(c.expires_on.as_deref().unwrap_or("长期 / no end date")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StoredKey {
        let seed = [7u8; 32];
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        StoredKey {
            department: "440303D07".into(),
            key_id: key_id(&public),
            public_key: STANDARD.encode(public),
            secret_key: STANDARD.encode(seed),
            created_at: 0,
        }
    }

    fn draft() -> Draft<'static> {
        Draft {
            id: "c1".into(),
            item: "0500001001",
            name: "高龄津贴核定通知书",
            holder: "11010519491231002X",
            holder_name: "张三",
            department: "440303D07",
            department_name: "区民政局（演示）",
            application: "a1",
            decision: Some("d1"),
            issued_at: 1_764_000_000_000,
            expires_on: Some("2027-01-01".into()),
        }
    }

    fn day(s: &str) -> chrono::NaiveDate {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_signed_certificate_verifies_and_a_changed_one_does_not() {
        let k = key();
        let c = issue(draft(), &k).unwrap();
        assert_eq!(check(&c, Some(&k), day("2026-11-30")), Validity::Valid);
        assert_eq!(check(&c, Some(&k), day("2027-01-02")), Validity::Expired);
        let mut forged = c.clone();
        forged.body = forged.body.replace("张三", "李四");
        assert_eq!(
            check(&forged, Some(&k), day("2026-11-30")),
            Validity::BadSignature
        );
        assert_eq!(check(&c, None, day("2026-11-30")), Validity::BadSignature);
        let mut revoked = c;
        revoked.revoked_at = Some(1);
        assert_eq!(
            check(&revoked, Some(&k), day("2026-11-30")),
            Validity::Revoked
        );
    }

    #[test]
    fn masks() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_holder("11010519491231002X"), "110105********002X");
    }

    #[test]
    fn pages_escape_and_carry_the_qr_code() {
        let mut c = issue(draft(), &key()).unwrap();
        c.holder_name = "<script>".into();
        let page = print_page(&c, "区民政局", "http://x/verify/c1", true);
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
        assert!(page.contains("<svg") && page.contains("演示数据"));
        let v = verify_page(&c, Validity::Revoked, "区民政局");
        assert!(v.contains("已撤销") && v.contains("&lt;**"));
    }
}
