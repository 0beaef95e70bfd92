//! The OpenAPI document, built from the same table that builds the router: every route is
//! added with its documentation through [`Api::route`], so the two cannot drift apart. Request
//! and response schemas come from the `natter-schemas` types (schemars, OpenAPI 3 settings).

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::MethodRouter;
use natter_schemas::ErrorBody;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};

use crate::state::AppState;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The documentation of one operation.
pub struct Doc {
    method: &'static str,
    summary: &'static str,
    auth: bool,
    body: Option<SchemaFn>,
    /// The body is `multipart/form-data` with one file in the field `file`.
    file_body: bool,
    responses: Vec<(u16, &'static str, Option<SchemaFn>)>,
    query: Vec<(&'static str, &'static str, &'static str)>,
}

impl Doc {
    fn new(method: &'static str, summary: &'static str) -> Self {
        Self {
            method,
            summary,
            auth: true,
            body: None,
            file_body: false,
            responses: Vec::new(),
            query: Vec::new(),
        }
    }
    pub fn get(summary: &'static str) -> Self {
        Self::new("get", summary)
    }
    pub fn post(summary: &'static str) -> Self {
        Self::new("post", summary)
    }
    pub fn put(summary: &'static str) -> Self {
        Self::new("put", summary)
    }
    pub fn patch(summary: &'static str) -> Self {
        Self::new("patch", summary)
    }
    pub fn delete(summary: &'static str) -> Self {
        Self::new("delete", summary)
    }
    /// No bearer token needed.
    pub fn public(mut self) -> Self {
        self.auth = false;
        self
    }
    pub fn body<T: JsonSchema>(mut self) -> Self {
        self.body = Some(schema_of::<T>);
        self
    }
    /// The body is `multipart/form-data` with the file in the field `file`.
    pub fn file_body(mut self) -> Self {
        self.file_body = true;
        self
    }
    pub fn ok<T: JsonSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.responses
            .push((status, description, Some(schema_of::<T>)));
        self
    }
    pub fn empty(mut self, status: u16, description: &'static str) -> Self {
        self.responses.push((status, description, None));
        self
    }
    /// A query parameter: name, JSON type, description.
    pub fn query(
        mut self,
        name: &'static str,
        ty: &'static str,
        description: &'static str,
    ) -> Self {
        self.query.push((name, ty, description));
        self
    }
}

/// A router under construction, with the documentation of every route.
pub struct Api {
    router: Router<AppState>,
    docs: Vec<(&'static str, Doc)>,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            router: Router::new(),
            docs: Vec::new(),
        }
    }
}

impl Api {
    pub fn route(mut self, path: &'static str, handler: MethodRouter<AppState>, doc: Doc) -> Self {
        self.router = self.router.route(path, handler);
        self.docs.push((path, doc));
        self
    }

    /// A route left out of the document (the WebSocket upgrade, the document itself).
    pub fn undocumented(mut self, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self
    }

    pub fn merge(mut self, other: Api) -> Self {
        self.router = self.router.merge(other.router);
        self.docs.extend(other.docs);
        self
    }

    pub fn router(self) -> Router<AppState> {
        self.router
    }

    /// The OpenAPI 3.0 document of every documented route.
    pub fn document(&self) -> Value {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let error = generator.subschema_for::<ErrorBody>();
        let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
        for (path, doc) in &self.docs {
            let mut parameters: Vec<Value> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .map(|name| {
                    json!({"name": name, "in": "path", "required": true,
                           "schema": {"type": "string", "format": if name == "emoji" { "emoji" } else { "uuid" }}})
                })
                .collect();
            parameters.extend(doc.query.iter().map(|(name, ty, description)| {
                json!({"name": name, "in": "query", "required": false,
                       "description": description, "schema": {"type": ty}})
            }));
            let mut responses = serde_json::Map::new();
            for (status, description, schema) in &doc.responses {
                let mut response = json!({"description": description});
                if let Some(schema) = schema {
                    response["content"] =
                        json!({"application/json": {"schema": schema(&mut generator)}});
                }
                responses.insert(status.to_string(), response);
            }
            responses.insert(
                "default".into(),
                json!({"description": "an error: `{\"error\": {\"code\", \"message\", ...}}`",
                       "content": {"application/json": {"schema": error.clone()}}}),
            );
            let mut operation = json!({
                "summary": doc.summary,
                "parameters": parameters,
                "responses": responses,
            });
            if doc.file_body {
                operation["requestBody"] = json!({"required": true,
                    "content": {"multipart/form-data": {"schema": {
                        "type": "object", "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}}}}}});
            }
            if let Some(body) = doc.body {
                operation["requestBody"] = json!({"required": true,
                    "content": {"application/json": {"schema": body(&mut generator)}}});
            }
            if doc.auth {
                operation["security"] = json!([{"bearer": []}]);
            }
            paths
                .entry(path)
                .or_default()
                .insert(doc.method.to_owned(), operation);
        }
        let schemas = generator.take_definitions(true);
        json!({
            "openapi": "3.0.3",
            "info": {
                "title": "natter",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "Event-sourced real-time chat. The WebSocket protocol at GET /v1/ws is described by the JSON Schemas in schemas/json/."
            },
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            }
        })
    }
}
