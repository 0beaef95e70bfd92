//! Images in flight take memory by the image workers, not by the uploads waiting for one: 16
//! uploads at once of a 1x1 PNG carrying a 7.5 MiB ancillary chunk keep natter's peak resident
//! memory (`VmHWM`: what a process held at its most; resident memory after the fact proves
//! nothing, the allocator keeps what was freed) within its baseline + workers x 2 x the upload
//! limit + a margin. Before the fix each waiting upload held its image twice (about +210 MiB
//! here).

use natter_testkit::{Api, NatterProcess, TestEnv};
use reqwest::StatusCode;

use super::png_bytes;

const WORKERS: u64 = 1;
const LIMIT: u64 = 8 << 20;
/// What else 16 uploads at once take (buffers, tasks, the allocator's arenas).
const MARGIN: u64 = 64 << 20;

/// The process's peak resident memory, in bytes.
fn peak(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib << 10
}

/// A 1x1 PNG with an ancillary chunk of `extra` bytes after its header (decoders skip it;
/// natter strips it).
fn png_with_chunk(extra: usize) -> Vec<u8> {
    let png = png_bytes(3);
    let at = 8 + 25; // the signature, then IHDR (length, type, 13 bytes, CRC)
    let mut chunk = Vec::with_capacity(extra + 12);
    chunk.extend_from_slice(&u32::try_from(extra).expect("size").to_be_bytes());
    chunk.extend_from_slice(b"prVt");
    chunk.resize(8 + extra, b'x');
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    [&png[..at], &chunk, &png[at..]].concat()
}

fn crc32(bytes: &[u8]) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|n| {
            (0..8).fold(n, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    !bytes.iter().fold(!0u32, |c, b| {
        table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

#[tokio::test]
async fn images_in_flight_take_memory_by_the_workers_not_by_the_uploads() {
    let env = TestEnv::new().await;
    let natter = NatterProcess::spawn_with(
        &env,
        "up",
        &[
            ("NATTER_IMAGE_WORKERS", &WORKERS.to_string()),
            ("NATTER_MAX_UPLOAD_BYTES", &LIMIT.to_string()),
            ("NATTER_RATE_UPLOADS", "off"),
        ],
    )
    .await;
    let pid = natter.pid().expect("running");
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(Api::register(&natter.base, &format!("uploader{i}")).await);
    }
    // Warm: every path an upload takes has run once.
    for user in &users {
        let (status, body) = user.upload("warm.png", png_with_chunk(1 << 10)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let baseline = peak(pid);

    let image = png_with_chunk(7_500_000);
    let uploads = users.iter().flat_map(|user| {
        let image = image.clone();
        (0..4).map(move |i| {
            let image = image.clone();
            async move { user.upload(&format!("big{i}.png"), image).await }
        })
    });
    for (status, body) in futures::future::join_all(uploads).await {
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["width"], 1, "stored as an image: {body}");
    }
    let grown = peak(pid).saturating_sub(baseline);
    let bound = WORKERS * 2 * LIMIT + MARGIN;
    eprintln!(
        "peak resident memory grew by {} MiB (bound {} MiB)",
        grown >> 20,
        bound >> 20
    );
    assert!(
        grown <= bound,
        "the peak grew by {} MiB, past {} MiB",
        grown >> 20,
        bound >> 20
    );
    natter.stop().await;
    env.cleanup().await;
}
