//! One call of each scenario, with the check that makes it a success: an inactive answer, a
//! denied Check or a CreateKey without a secret is an error, never a success.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use apikeys_proto::pb::{CreateKeyRequest, IntrospectRequest, IntrospectResponse};
use base64::Engine as _;
use bytes::{BufMut as _, Bytes};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use prost::Message;
use tonic::Status;
use tonic::client::Grpc;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic_prost::ProstCodec;

use crate::load::{Call, CallError};
use crate::servers::BARE_CLIENT_ID;

/// A live key, as CreateKey returned it.
#[derive(Debug, Clone)]
pub struct Key {
    pub client_id: String,
    pub client_secret: String,
}

/// `message` with the caller token in its `authorization` metadata.
pub fn authorized<T>(auth: &MetadataValue<Ascii>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", auth.clone());
    request
}

/// Spreads the tasks over the keys: task `t`, call `seq` uses key `(seq * 7919) % n`.
pub fn pick<T>(items: &[T], seq: u64) -> &T {
    let index = (seq.wrapping_mul(7919) % items.len() as u64) as usize;
    &items[index]
}

/// A unary call whose requests were encoded once, before the measurement: each call sends
/// the stored bytes. Cloning and re-encoding a message per call would charge the load
/// generator (which shares the machine's cores with the server) for message shapes the server
/// is being measured on: an Envoy CheckRequest with its header map costs the client several
/// times what an IntrospectRequest does. The answer is still decoded and judged in full.
pub struct PreEncodedCall<Answer> {
    grpc: Grpc<Channel>,
    path: PathAndQuery,
    auth: MetadataValue<Ascii>,
    requests: Arc<Vec<Bytes>>,
    judge: fn(&Answer) -> Result<(), CallError>,
}

impl<Answer: Message + Default + Send + 'static> Call for PreEncodedCall<Answer> {
    async fn call(&mut self, seq: u64) -> Result<(), CallError> {
        let request = authorized(&self.auth, pick(&self.requests, seq).clone());
        self.grpc
            .ready()
            .await
            .map_err(|error| CallError::status(&Status::unavailable(error.to_string())))?;
        let answer = self
            .grpc
            .unary(request, self.path.clone(), PreEncodedCodec::default())
            .await
            .map_err(|status| CallError::status(&status))?
            .into_inner();
        (self.judge)(&answer)
    }
}

/// Introspect over a list of prepared requests (client credentials or tokens); the answer must
/// be active. Also the bare baseline's call (one fixed request).
pub type IntrospectCall = PreEncodedCall<IntrospectResponse>;

impl IntrospectCall {
    pub fn new(channel: Channel, auth: MetadataValue<Ascii>, requests: Arc<Vec<Bytes>>) -> Self {
        Self {
            grpc: Grpc::new(channel),
            path: PathAndQuery::from_static("/apikeys.v1.IntrospectionService/Introspect"),
            auth,
            requests,
            judge: |answer| {
                if answer.active {
                    Ok(())
                } else {
                    Err(CallError::wrong_answer("Introspect answered active=false"))
                }
            },
        }
    }
}

/// Encodes each message once, for [`PreEncodedCall`].
pub fn pre_encoded<M: Message>(messages: impl IntoIterator<Item = M>) -> Vec<Bytes> {
    messages
        .into_iter()
        .map(|message| Bytes::from(message.encode_to_vec()))
        .collect()
}

/// Sends bytes already encoded; decodes the answer with prost.
struct PreEncodedCodec<Answer>(PhantomData<Answer>);

impl<Answer> Default for PreEncodedCodec<Answer> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Answer: Message + Default + Send + 'static> Codec for PreEncodedCodec<Answer> {
    type Encode = Bytes;
    type Decode = Answer;
    type Encoder = BytesEncoder;
    type Decoder = <ProstCodec<(), Answer> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<(), Answer>::default().decoder()
    }
}

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

pub fn credential_requests(keys: &[Key]) -> Vec<Bytes> {
    pre_encoded(keys.iter().map(|key| IntrospectRequest {
        client_id: key.client_id.clone(),
        client_secret: key.client_secret.clone(),
        token: String::new(),
    }))
}

pub fn token_requests(tokens: &[String]) -> Vec<Bytes> {
    pre_encoded(tokens.iter().map(|token| IntrospectRequest {
        client_id: String::new(),
        client_secret: String::new(),
        token: token.clone(),
    }))
}

/// The key the bare baselines' requests carry (they check nothing): the sizes of a real one.
pub fn bare_key() -> Key {
    Key {
        client_id: BARE_CLIENT_ID.to_owned(),
        client_secret: "aks_XbBb8OKz8kXnE2Ituf2sXPq0bpIpCY5R1WDNKikOk1q2sTUrj".to_owned(),
    }
}

/// The bare baseline's one request: the same sizes as a real client-credentials Introspect.
pub fn bare_requests() -> Vec<Bytes> {
    let key = bare_key();
    pre_encoded([IntrospectRequest {
        client_id: key.client_id,
        client_secret: key.client_secret,
        token: String::new(),
    }])
}

/// The part of Envoy's `CheckResponse` the judge reads: `status` (field 1). prost skips the
/// header lists, which the load generator, sharing the cores with the server, would otherwise
/// decode into strings on every call without looking at them (the reason requests are
/// pre-encoded, see [`PreEncodedCall`]).
#[derive(Clone, PartialEq, Message)]
pub struct CheckStatus {
    #[prost(message, optional, tag = "1")]
    pub status: Option<RpcStatus>,
}

/// Envoy ext_authz `Authorization/Check`; allowed (status code OK) is a success.
pub type CheckCall = PreEncodedCall<CheckStatus>;

impl CheckCall {
    pub fn new(channel: Channel, auth: MetadataValue<Ascii>, requests: Arc<Vec<Bytes>>) -> Self {
        Self {
            grpc: Grpc::new(channel),
            path: PathAndQuery::from_static("/envoy.service.auth.v3.Authorization/Check"),
            auth,
            requests,
            // Envoy's rule: a missing status is OK (code 0).
            judge: |answer| match answer.status.as_ref().map_or(0, |status| status.code) {
                0 => Ok(()),
                code => Err(CallError::wrong_answer(format!(
                    "Check denied (google.rpc code {code})"
                ))),
            },
        }
    }
}

/// An Envoy-shaped CheckRequest for `POST /v1/payments` with this `authorization` header.
pub fn check_request(index: usize, authorization: String) -> CheckRequest {
    let host = "api.payments.example";
    let path = "/v1/payments";
    let request_id = format!("bench-{index:08}-5e2c-4a1b-9f7e-0c3d2b1a0f9e");
    let headers: HashMap<String, String> = [
        (":authority", host.to_owned()),
        (":method", "POST".to_owned()),
        (":path", path.to_owned()),
        (":scheme", "https".to_owned()),
        ("authorization", authorization),
        ("content-type", "application/json".to_owned()),
        ("content-length", "184".to_owned()),
        ("user-agent", "partner-sdk/2.3.1".to_owned()),
        ("x-forwarded-proto", "https".to_owned()),
        ("x-request-id", request_id.clone()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(HttpRequest {
                    id: request_id,
                    method: "POST".to_owned(),
                    headers,
                    path: path.to_owned(),
                    host: host.to_owned(),
                    scheme: "https".to_owned(),
                    protocol: "HTTP/1.1".to_owned(),
                    size: 184,
                    ..HttpRequest::default()
                }),
            }),
            ..AttributeContext::default()
        }),
    }
}

pub fn basic_check_requests(keys: &[Key]) -> Vec<Bytes> {
    pre_encoded(
        keys.iter()
            .enumerate()
            .map(|(index, key)| check_request(index, basic(key))),
    )
}

pub fn bearer_check_requests(tokens: &[String]) -> Vec<Bytes> {
    pre_encoded(
        tokens
            .iter()
            .enumerate()
            .map(|(index, token)| check_request(index, format!("Bearer {token}"))),
    )
}

/// CreateKey in one account; a response with a key and a secret is a success.
pub struct CreateKeyCall {
    pub client: ApiKeyServiceClient<Channel>,
    pub auth: MetadataValue<Ascii>,
    pub account_id: String,
}

impl Call for CreateKeyCall {
    async fn call(&mut self, seq: u64) -> Result<(), CallError> {
        let request = authorized(
            &self.auth,
            CreateKeyRequest {
                account_id: self.account_id.clone(),
                email: format!("k{seq}@bench.example"),
                display_name: String::new(),
            },
        );
        let response = self
            .client
            .create_key(request)
            .await
            .map_err(|status| CallError::status(&status))?
            .into_inner();
        if response.key.is_some() && !response.client_secret.is_empty() {
            Ok(())
        } else {
            Err(CallError::wrong_answer("CreateKey answered without a key"))
        }
    }
}

/// `Authorization: Basic base64(id:secret)`: ext_authz Check (c1) and forward auth (f1).
pub fn basic(key: &Key) -> String {
    let pair = format!("{}:{}", key.client_id, key.client_secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[cfg(test)]
mod tests {
    use envoy_types::ext_authz::v3::CheckResponseExt as _;
    use envoy_types::pb::envoy::service::auth::v3::CheckResponse;

    use super::*;

    #[test]
    fn check_status_reads_the_code_of_a_full_check_response() {
        for (status, code) in [
            (Status::ok(""), 0),
            (Status::unauthenticated(""), 16),
            (Status::unavailable(""), 14),
        ] {
            let full = CheckResponse::with_status(status).encode_to_vec();
            let read = CheckStatus::decode(full.as_slice()).expect("decodes");
            assert_eq!(read.status.map(|status| status.code), Some(code));
        }
    }
}
