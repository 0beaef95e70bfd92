//! GIPHY's search API (`GET /v1/gifs/search`): `data[]` with `images.fixed_height` (the
//! animation) and `images.fixed_height_small` (for a picker).

use futures::future::BoxFuture;
use natter_schemas::rest::Gif;
use serde::Deserialize;

use super::provider::{GifConfig, GifError, GifProvider, PROVIDER_TIMEOUT, ProviderKind};

const API: &str = "https://api.giphy.com";

pub struct Giphy {
    client: reqwest::Client,
    key: String,
    base: String,
    rating: String,
}

impl Giphy {
    pub fn new(key: String, base: Option<String>, rating: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            client,
            key,
            base: base
                .unwrap_or_else(|| API.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            rating,
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    #[serde(default)]
    title: String,
    images: Images,
}

#[derive(Deserialize)]
struct Images {
    fixed_height: Rendition,
    #[serde(default)]
    fixed_height_small: Option<Rendition>,
}

#[derive(Deserialize)]
struct Rendition {
    url: String,
    // GIPHY sends sizes as strings.
    #[serde(default)]
    width: String,
    #[serde(default)]
    height: String,
}

impl GifProvider for Giphy {
    fn name(&self) -> &'static str {
        "giphy"
    }

    fn search<'a>(
        &'a self,
        query: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Gif>, GifError>> {
        Box::pin(async move {
            let url = reqwest::Url::parse_with_params(
                &format!("{}/v1/gifs/search", self.base),
                &[
                    ("api_key", self.key.as_str()),
                    ("q", query),
                    ("limit", &limit.to_string()),
                    ("rating", &self.rating),
                ],
            )
            .map_err(|e| GifError::Unreachable(e.to_string()))?;
            let response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| GifError::Unreachable(e.without_url().to_string()))?;
            if !response.status().is_success() {
                return Err(GifError::Status(response.status().as_u16()));
            }
            let answer: Answer = response
                .json()
                .await
                .map_err(|e| GifError::Shape(e.without_url().to_string()))?;
            Ok(answer
                .data
                .into_iter()
                .map(|item| {
                    let full = item.images.fixed_height;
                    let preview = item
                        .images
                        .fixed_height_small
                        .map_or_else(|| full.url.clone(), |p| p.url);
                    Gif {
                        id: item.id,
                        title: item.title,
                        width: full.width.parse().unwrap_or(0),
                        height: full.height.parse().unwrap_or(0),
                        url: full.url,
                        preview_url: preview,
                    }
                })
                .collect())
        })
    }
}

/// The configured provider, if any.
pub fn configured(config: &GifConfig) -> Option<Box<dyn GifProvider>> {
    match (config.gif_provider, &config.gif_api_key) {
        (ProviderKind::Giphy, Some(key)) => Some(Box::new(Giphy::new(
            key.clone(),
            config.gif_api_url.clone(),
            config.gif_rating.clone(),
        ))),
        _ => None,
    }
}
