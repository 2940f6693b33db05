//! Caller tokens against a server that trusts one RSA public key (`--jwt-public-key-file`):
//! the RS256 control token passes, and the classic key confusion (HS256 signed with the public
//! key's PEM as the HMAC secret) does not, nor does `alg: none` under that key.

use apikeys_test_support::Backend;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use tonic::Code;

use crate::harness::{TestServer, assert_code};

backend_suite!(hs256_signed_with_the_rsa_public_key_is_unauthenticated);

/// A throwaway 2048-bit RSA key made for this test only (`openssl genrsa 2048`).
const PRIVATE_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCzot7cUVbAYQUG\n\
HaohghNH7U/+Wylk0WT7tNq7BqQ7TtxfCFDQZBaUIfBM9/G4PSVkaq/CTLBJI5Sc\n\
JL3nj+CkEwZN2QtpRn763pTFpY42XPGsyvrYzUiqEBpkWPq+lhr/bGT4/TSdkuAs\n\
I3E0v7UUt/BxbdTwFdIbsLOieec5L5JkbDNMjYN0R7SWCqFvGNi/Ojlj5c0xPCsf\n\
v/NFUPHayUE5sigmuPYOM23qP9AlxVdOZkhmg1uNfI/8fVLn/i60ccTyx1JVZT/b\n\
kloasmxXbx0AQ1jx0LWOoaIo4zITvqG4xa3IyRTzTnTx81q0ssFiG09ACW25U/k7\n\
Db0h/+2bAgMBAAECggEAGSVVeRXRxQBPyblhVWt1832e0wZD1x8QucNpUwDtAHhb\n\
lNn/Jgy8tGPD1aJnrdixYUsl61b83mAir3DdPIsBcTZQjZkyZbw+jjOWM8ynCakd\n\
E4kecDbcUyIJ774c64zrnpG32LrpIJ2sz8DuWen0GUBeYiJzyl/jl4i2vKm/2ls4\n\
Kn/3gy3ph6SumTWFNPSPugH2hchGpqeqg62k7pXWyCHpgF8xwQb8kMihDZyWX5cF\n\
ZSUG9HxUpYQ4aQI6xzBkTW8hjTOjG8yUEJRg4lhePFfGWHE55la6Gz+ueR50Xan4\n\
UYBG4ZILG94ds03mVHt2GCY+dne10WiwALtJ0JGIYQKBgQDpq0o+y/VTx/FhFMr6\n\
4/ZudU1QGDxOwQ3FfY6lBLUT6KfMPJEhOayHMmCkrGVoFzfnw5WTt4MpwLNdIBD+\n\
1flS4eNdIUjemhsviyfWdqooN08BpZm/mHBuDZjCgcpBM+37h1RLxGwXHBQvUlLr\n\
cUmgEhjr57hjPVBAL4XzAoBbwwKBgQDEzaq+q2qubgwl6UZkVvVp04+xqQJ/o9oz\n\
+yYutqASBGq+34fFAh/BL0gaYeqXfYT7HkDTOacI1vmWgNI+Q9MXJzxWZXf4LyjO\n\
CRQircOajiBd350Wivk958lep1nAJiBKWEUdblIIq5sdO7z2tAp14Bnd8IFdRmxF\n\
bFMW+i4BSQKBgF57HwsjJvAYYVYytRwa/rKNBZTEJ+ZkEvBuozXAIIOLSAXB26DG\n\
lCcaTI9pEZuz/6vbnmhbBFLmkt+trpGL7UMBCRDH+5HeV+2yY4pI8uZN7skor3ET\n\
7yngn4rONfyFRc21W3VDV71EYjj8HYELjoyFpMQGLr0ZtpAtZwjqUwJHAoGBAJOK\n\
THNdN0FFpz3UwL0ApEOOI6/hMMpYIIHPyzRCHYbkYNJv6e08Rmoh9EAzIBgqNcO9\n\
ToQMOLlb0QmP0g5z8pDtDUMIFwSs9j5geAP3mSkJXCKEPdRko65RUpnvhE2VR6f0\n\
vPvvdPijDkrAOk4Jc74jH8FPSOyQmyMArtoO/OZhAoGAQJzu6BN+2NuQEeqDUjYu\n\
O9sVnKSWhSQ8b/2TpKYMz1sZLN1ll/nOW5Xq+kEHJvAsqMbzv/H60tQ6VuTIn0R4\n\
Fi6YNdX5wiAQjddkiNtjG3QVHOU59L6kHjLzL6GlABoy6bwfz0A9OHYUnEuB7UAU\n\
B7hZg2emiZe44oHgOi+N4K8=\n\
-----END PRIVATE KEY-----\n";

const PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs6Le3FFWwGEFBh2qIYIT\n\
R+1P/lspZNFk+7TauwakO07cXwhQ0GQWlCHwTPfxuD0lZGqvwkywSSOUnCS954/g\n\
pBMGTdkLaUZ++t6UxaWONlzxrMr62M1IqhAaZFj6vpYa/2xk+P00nZLgLCNxNL+1\n\
FLfwcW3U8BXSG7CzonnnOS+SZGwzTI2DdEe0lgqhbxjYvzo5Y+XNMTwrH7/zRVDx\n\
2slBObIoJrj2DjNt6j/QJcVXTmZIZoNbjXyP/H1S5/4utHHE8sdSVWU/25JaGrJs\n\
V28dAENY8dC1jqGiKOMyE76huMWtyMkU80508fNatLLBYhtPQAltuVP5Ow29If/t\n\
mwIDAQAB\n\
-----END PUBLIC KEY-----\n";

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "apikeys";

async fn hs256_signed_with_the_rsa_public_key_is_unauthenticated(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("idp.pem");
    std::fs::write(&key_file, PUBLIC_KEY_PEM).expect("write the public key");
    let server = TestServer::builder(backend)
        .local_mode()
        .args(&[
            "--jwt-public-key-file",
            key_file.to_str().expect("utf-8 path"),
            "--jwt-issuer",
            ISSUER,
            "--jwt-audience",
            AUDIENCE,
        ])
        .start()
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let claims = json!({
        "sub": "staff-1", "staff": true, "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + 600,
    });
    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(PRIVATE_KEY_PEM.as_bytes()).expect("private key"),
    )
    .expect("sign RS256");
    // Control: the legitimate token is accepted.
    let account = server.api().get_account(&rs256, "acme").await;
    assert!(
        account.is_ok(),
        "an RS256 token from the identity provider: {account:?}"
    );
    let confused = |secret: &[u8], algorithm| {
        encode(
            &Header::new(algorithm),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("sign HMAC")
    };
    let payload = rs256.split('.').nth(1).expect("payload").to_owned();
    let cases = [
        (
            "HS256 with the PEM as secret",
            confused(PUBLIC_KEY_PEM.as_bytes(), Algorithm::HS256),
        ),
        (
            "HS256 with the PEM without its final newline",
            confused(PUBLIC_KEY_PEM.trim_end().as_bytes(), Algorithm::HS256),
        ),
        (
            "HS512 with the PEM as secret",
            confused(PUBLIC_KEY_PEM.as_bytes(), Algorithm::HS512),
        ),
        (
            "alg none",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
        ),
        (
            "an RS256 signature under an HS256 header",
            format!(
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.{}",
                rs256.rsplit('.').next().expect("signature")
            ),
        ),
    ];
    for (what, token) in cases {
        assert_code(
            server.api().get_account(&token, "acme").await,
            Code::Unauthenticated,
            what,
        );
    }
}
