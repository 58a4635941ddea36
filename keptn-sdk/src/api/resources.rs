//! Bodies of `/resource-service/v1`.

use serde::{Deserialize, Serialize};

/// A resource with base64 content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The path of the resource relative to its scope, e.g. `slo.yaml` or `helm/carts.tgz`.
    #[serde(rename = "resourceURI")]
    pub resource_uri: String,
    /// The content, base64.
    #[serde(
        rename = "resourceContent",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub resource_content: String,
}

/// Where a resource version lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMetadata {
    /// The git branch.
    #[serde(default)]
    pub branch: String,
    /// The git upstream, if any.
    #[serde(rename = "upstreamURL", default)]
    pub upstream_url: String,
    /// The commit id.
    #[serde(default)]
    pub version: String,
}

/// `GET .../resource/{resourceURI}` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceWithMetadata {
    /// The path of the resource.
    #[serde(rename = "resourceURI")]
    pub resource_uri: String,
    /// The content, base64.
    #[serde(rename = "resourceContent")]
    pub resource_content: String,
    /// Where this version lives.
    #[serde(default)]
    pub metadata: ResourceMetadata,
}

/// `POST|PUT .../resource` body: several resources in one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// The resources.
    pub resources: Vec<Resource>,
}

/// `PUT .../resource/{resourceURI}` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceContent {
    /// The path (optional: the path of the URL is used).
    #[serde(
        rename = "resourceURI",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_uri: Option<String>,
    /// The content, base64.
    #[serde(rename = "resourceContent")]
    pub resource_content: String,
}

/// Answer of resource writes: the commit that holds the change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceWriteResult {
    /// The commit id.
    #[serde(rename = "commitID")]
    pub commit_id: String,
    /// Where the change lives.
    #[serde(default)]
    pub metadata: ResourceMetadata,
}

/// A page of resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesPage {
    /// The resources (content omitted in lists).
    pub resources: Vec<Resource>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}
