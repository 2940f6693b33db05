//! argon2id on memory each hashing thread keeps between jobs.

use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    /// argon2's working memory (m KiB), kept by each hashing thread between jobs. Allocated per
    /// hash, it would go back to the kernel when freed and come back zero-filled on the next
    /// one: work in proportion to m on every hash. `apikeys-bench run --scenarios d,e` measures
    /// the argon2-bound calls (cold Introspect, CreateKey).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// `argon2.hash_password` on this thread's reusable memory; the same PHC string as argon2's.
pub(super) fn compute<'a>(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'a>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_buffer = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
    let params = argon2.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks_needed = params.block_count();
    let output = Output::init_with(output_len, |out| {
        let mut run = |blocks: &mut [Block]| {
            argon2.hash_password_into_with_memory(password, salt_bytes, out, blocks)
        };
        BLOCKS
            .with(|cell| match cell.try_borrow_mut() {
                Ok(mut blocks) => {
                    if blocks.len() < blocks_needed {
                        blocks.resize(blocks_needed, Block::default());
                    }
                    run(&mut blocks[..blocks_needed])
                }
                // Not reached (no job runs inside another); a fresh buffer is still correct.
                Err(_) => run(&mut vec![Block::default(); blocks_needed]),
            })
            .map_err(Into::into)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}
