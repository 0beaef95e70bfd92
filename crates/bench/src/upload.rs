//! `upload`: large files uploaded one after another (throughput, and the gateway's memory
//! while they stream), then photos (what a thumbnail costs the server per image).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::Client;
use crate::stats::{Percentiles, Samples, ms, read_proc, table};

#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// Size of each large file, in MiB.
    #[arg(long, default_value_t = 25)]
    pub size_mib: usize,
    /// Large files uploaded.
    #[arg(long, default_value_t = 8)]
    pub files: usize,
    /// Photos uploaded (JPEG, `--photo-width` x `--photo-height`), each getting a thumbnail.
    #[arg(long, default_value_t = 20)]
    pub photos: usize,
    #[arg(long, default_value_t = 3000)]
    pub photo_width: u32,
    #[arg(long, default_value_t = 2000)]
    pub photo_height: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    pub files: usize,
    pub file_mib: usize,
    pub mib_per_s: f64,
    pub per_file: Percentiles,
    /// The gateway's resident memory before the uploads, and the most while they ran.
    pub rss_mib_before: f64,
    pub rss_mib_peak: f64,
    /// Server CPU per MiB stored.
    pub server_cpu_ms_per_mib: f64,
    pub photos: usize,
    pub photo_kib: usize,
    pub per_photo: Percentiles,
    /// Server CPU per photo (metadata stripped, decoded, thumbnail made, stored).
    pub server_cpu_ms_per_photo: f64,
    pub photo_rss_mib_peak: f64,
}

/// Samples a process's resident memory every 20 ms, keeping the most, until dropped.
struct PeakRss {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(p) = read_proc(pid) {
                    seen.fetch_max(p.rss_bytes, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { peak, task }
    }

    fn mib(self) -> f64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed) as f64 / 1048576.0
    }
}

fn cpu(pid: u32) -> f64 {
    read_proc(pid).map_or(0.0, |p| p.cpu_secs)
}

/// A photo-like JPEG: smooth gradients with noise, so that it compresses as photos do.
fn photo(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut seed = 0x9E37_79B9u32;
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 24) as u8;
        image::Rgb([
            ((x * 255 / width.max(1)) as u8).saturating_add(noise),
            ((y * 255 / height.max(1)) as u8).saturating_add(noise),
            (((x + y) % 256) as u8).saturating_add(noise),
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image).write_to(&mut out, image::ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

pub async fn run(
    client: &Client,
    args: &UploadArgs,
    pid: Option<u32>,
) -> anyhow::Result<UploadReport> {
    let pid =
        pid.ok_or_else(|| anyhow::anyhow!("upload needs the gateway's pid (--server-pid)"))?;
    let tag = format!("u{:08x}", crate::fanout::rand_u32());
    let user = client.user(&format!("{tag}_uploader")).await?;
    let file: Vec<u8> = (0..args.size_mib * 1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = read_proc(pid).map_or(0, |p| p.rss_bytes) as f64 / 1048576.0;
    eprintln!(
        "uploading {} files of {} MiB ...",
        args.files, args.size_mib
    );
    let peak = PeakRss::start(pid);
    let (cpu_start, started) = (cpu(pid), Instant::now());
    let mut per_file = Samples::default();
    for i in 0..args.files {
        let at = Instant::now();
        let (status, body) = client
            .upload(&user, &format!("big-{i}.bin"), file.clone())
            .await?;
        anyhow::ensure!(status == 201, "upload answered {status}: {body}");
        per_file.push(at.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let file_cpu = cpu(pid) - cpu_start;
    let rss_peak = peak.mib();
    let total_mib = (args.files * args.size_mib) as f64;

    let jpeg = photo(args.photo_width, args.photo_height)?;
    eprintln!(
        "uploading {} photos of {}x{} ({} KiB) ...",
        args.photos,
        args.photo_width,
        args.photo_height,
        jpeg.len() / 1024
    );
    let peak = PeakRss::start(pid);
    let cpu_start = cpu(pid);
    let mut per_photo = Samples::default();
    for i in 0..args.photos {
        let at = Instant::now();
        let (status, body) = client
            .upload(&user, &format!("photo-{i}.jpg"), jpeg.clone())
            .await?;
        anyhow::ensure!(status == 201, "upload answered {status}: {body}");
        anyhow::ensure!(body["thumbnail_url"].is_string(), "no thumbnail: {body}");
        per_photo.push(at.elapsed());
    }
    let photo_cpu = cpu(pid) - cpu_start;
    Ok(UploadReport {
        files: args.files,
        file_mib: args.size_mib,
        mib_per_s: total_mib / elapsed.max(1e-9),
        per_file: per_file.percentiles(),
        rss_mib_before: rss_before,
        rss_mib_peak: rss_peak,
        server_cpu_ms_per_mib: file_cpu * 1000.0 / total_mib.max(1.0),
        photos: args.photos,
        photo_kib: jpeg.len() / 1024,
        per_photo: per_photo.percentiles(),
        server_cpu_ms_per_photo: photo_cpu * 1000.0 / args.photos.max(1) as f64,
        photo_rss_mib_peak: peak.mib(),
    })
}

pub fn print(r: &UploadReport) {
    table(
        &format!(
            "upload: {} files of {} MiB, then {} photos",
            r.files, r.file_mib, r.photos
        ),
        &[
            ("throughput", format!("{:.0} MiB/s", r.mib_per_s)),
            ("per file", ms(&r.per_file)),
            (
                "gateway memory",
                format!(
                    "{:.0} MiB before, {:.0} MiB at most while streaming",
                    r.rss_mib_before, r.rss_mib_peak
                ),
            ),
            (
                "server cpu per MiB",
                format!("{:.2} ms", r.server_cpu_ms_per_mib),
            ),
            (
                "per photo",
                format!("{} ({} KiB each)", ms(&r.per_photo), r.photo_kib),
            ),
            (
                "server cpu per photo",
                format!(
                    "{:.0} ms (strip, decode, thumbnail, store)",
                    r.server_cpu_ms_per_photo
                ),
            ),
            (
                "gateway memory, photos",
                format!("{:.0} MiB at most", r.photo_rss_mib_peak),
            ),
        ],
    );
}
