//! Sending bytes the typed clients would never produce: a codec that passes protobuf bodies
//! through untouched, and a way to corrupt one string field of a well-formed message.

use prost::Message;
use prost::bytes::{Buf as _, BufMut as _};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::harness::bearer;

/// Marks the field to corrupt; long enough never to occur by chance.
pub const PLACEHOLDER: &str = "__corrupt_me__";

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; buf.remaining()];
        buf.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// Calls `path` (e.g. `/apikeys.v1.ApiKeyService/CreateKey`) with `body` as the message.
pub async fn call(
    channel: Channel,
    path: &'static str,
    token: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(body);
    request
        .metadata_mut()
        .insert("authorization", bearer(token));
    grpc.unary(request, PathAndQuery::from_static(path), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// `message` encoded, with the bytes of the one field set to [`PLACEHOLDER`] replaced by as
/// many bytes that are not UTF-8 (so every length prefix stays right).
pub fn with_invalid_utf8(message: &impl Message) -> Vec<u8> {
    let mut bytes = message.encode_to_vec();
    let at = bytes
        .windows(PLACEHOLDER.len())
        .position(|window| window == PLACEHOLDER.as_bytes())
        .expect("the message holds the placeholder");
    for (i, byte) in bytes[at..at + PLACEHOLDER.len()].iter_mut().enumerate() {
        *byte = if i % 2 == 0 { 0xff } else { 0xc3 };
    }
    bytes
}
