//! The protobuf codec of every apikeys service: prost's, except that a request that does not
//! decode is the caller's mistake and answers INVALID_ARGUMENT, not tonic's default INTERNAL.
//!
//! prost's error text names the message and field (`CreateKeyRequest.email: invalid string
//! value: data is not UTF-8 encoded`), so the status says which field was wrong. Selected for
//! the generated code by `codec_path` in `build.rs`.

use std::marker::PhantomData;

use prost::Message;
use prost::bytes::{Buf as _, BufMut as _};
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic_prost::ProstEncoder;

/// `tonic_prost::ProstCodec` with decode errors mapped to INVALID_ARGUMENT.
pub type ValidatingCodec<T, U> = ValidatingCodecWith<ProstEncoder<T>, U>;

/// [`ValidatingCodec`]'s decoding, with responses written out as they were encoded: for a hot
/// path whose answers are built once (or straight into bytes) rather than as message trees.
pub type PreEncodedCodec<T, U> = ValidatingCodecWith<PreEncodedEncoder<T>, U>;

/// The codec of both of the above: requests decoded by [`ValidatingDecoder`], responses written
/// by the encoder `E`.
#[derive(Debug, Clone)]
pub struct ValidatingCodecWith<E, U> {
    _types: PhantomData<(E, U)>,
}

impl<E, U> Default for ValidatingCodecWith<E, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<E, U> Codec for ValidatingCodecWith<E, U>
where
    E: Encoder<Error = Status> + Default + Send + 'static,
    E::Item: Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = E::Item;
    type Decode = U;
    type Encoder = E;
    type Decoder = ValidatingDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        E::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ValidatingDecoder { _type: PhantomData }
    }
}

/// Decodes `U` with prost; a malformed message is INVALID_ARGUMENT naming the field.
#[derive(Debug, Clone)]
pub struct ValidatingDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for ValidatingDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // The message as one `Bytes` (a view of tonic's buffer, not a copy): prost reads a
        // contiguous buffer on its fast paths, and `bytes` fields become slices of it.
        let message = buf.copy_to_bytes(buf.remaining());
        U::decode(message)
            .map(Some)
            .map_err(|error| Status::invalid_argument(error.to_string()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// A response that is already protobuf-encoded when the handler returns it.
pub trait PreEncoded {
    fn encoded(&self) -> &[u8];
}

/// Copies a [`PreEncoded`] response into tonic's frame buffer.
#[derive(Debug, Clone)]
pub struct PreEncodedEncoder<T> {
    _type: PhantomData<T>,
}

impl<T> Default for PreEncodedEncoder<T> {
    fn default() -> Self {
        Self { _type: PhantomData }
    }
}

impl<T: PreEncoded> Encoder for PreEncodedEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(item.encoded());
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use tonic::Code;

    use crate::pb::CreateKeyRequest;

    /// CreateKeyRequest with field 2 (`email`) holding bytes that are not UTF-8.
    const EMAIL_NOT_UTF8: &[u8] = &[0x0a, 0x04, b'a', b'c', b'm', b'e', 0x12, 0x02, 0xff, 0xfe];

    /// The status text relies on prost naming the message and field in its error.
    #[test]
    fn invalid_utf8_is_invalid_argument_naming_the_field() {
        let error = CreateKeyRequest::decode(EMAIL_NOT_UTF8).unwrap_err();
        let status = tonic::Status::invalid_argument(error.to_string());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("CreateKeyRequest.email"),
            "{}",
            status.message()
        );
    }
}
