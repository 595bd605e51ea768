//! The request-response codec: length-prefixed frames (see [`crate::wire`]), the length
//! checked against the cap before any allocation (a request's cap is its largest encoding,
//! 2 KB; a response's is four full blocks), the body buffered as it arrives rather than
//! allocated at the announced length, and decoded by the canonical decoders.

use async_trait::async_trait;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use crate::wire::{MAX_FRAME, MAX_REQUEST_FRAME, Request, Response, check_frame_len_within, frame};

/// What a reader reserves before the bytes arrive: a peer that announces a large frame and
/// sends nothing costs this much, not the announced length.
const FIRST_RESERVATION: usize = 64 * 1024;

/// The protocol name: version 1 of the blockchain-ann request-response protocol.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/blockchain-ann/req/1");

/// The codec of [`PROTOCOL`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = check_frame_len_within(prefix, max).map_err(invalid)?;
    let mut body = Vec::with_capacity(len.min(FIRST_RESERVATION));
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "a frame announced {len} bytes and ended after {}",
                body.len()
            ),
        ));
    }
    Ok(body)
}

fn invalid(error: crate::wire::WireError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, error)
}

#[async_trait]
impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Request::from_bytes(&read_frame(io, MAX_REQUEST_FRAME).await?).map_err(invalid)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        Response::from_bytes(&read_frame(io, MAX_FRAME).await?).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&frame(&request.to_bytes())).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&frame(&response.to_bytes())).await?;
        io.close().await
    }
}
