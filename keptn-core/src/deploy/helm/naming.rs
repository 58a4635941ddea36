//! Release names, chart names and deployment URIs, as Keptn's helm-service builds them.

use crate::deploy::ServiceScope;

/// Release names must be shorter than this (Helm's limit for names used in labels).
pub const RELEASE_NAME_LIMIT: usize = 53;

/// `<service>` or `<service>-generated`.
pub fn chart_name(service: &str, generated: bool) -> String {
    if generated {
        format!("{service}-generated")
    } else {
        service.to_owned()
    }
}

/// `<project>-<stage>-<service>[-generated]`, shortened when 53 characters or longer: first
/// without the project, then without the stage, then the service name cut (which can make
/// names ambiguous, as in Keptn).
pub fn release_name(scope: &ServiceScope, generated: bool) -> String {
    let suffix = if generated { "-generated" } else { "" };
    let candidates = [
        format!(
            "{}-{}-{}{suffix}",
            scope.project(),
            scope.stage(),
            scope.service()
        ),
        format!("{}-{}{suffix}", scope.stage(), scope.service()),
        format!("{}{suffix}", scope.service()),
    ];
    for candidate in candidates {
        if candidate.len() < RELEASE_NAME_LIMIT {
            return candidate;
        }
    }
    let keep = RELEASE_NAME_LIMIT - suffix.len() - 1;
    format!(
        "{}{suffix}",
        &scope.service()[..keep.min(scope.service().len())]
    )
}

/// How public URIs and the Istio VirtualService hosts are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressConfig {
    /// `INGRESS_PROTOCOL` (default `http`).
    pub protocol: String,
    /// `INGRESS_HOSTNAME_SUFFIX` (default `svc.cluster.local`).
    pub hostname_suffix: String,
    /// `INGRESS_PORT` (default `80`).
    pub port: String,
    /// `ISTIO_GATEWAY` (default `public-gateway.istio-system`).
    pub gateway: String,
    /// `HOSTNAME_TEMPLATE`, with `${INGRESS_PROTOCOL}`, `${SERVICE}`, `${PROJECT}`,
    /// `${STAGE}`, `${INGRESS_HOSTNAME_SUFFIX}` and `${INGRESS_PORT}`.
    pub hostname_template: String,
}

/// Keptn's default `HOSTNAME_TEMPLATE`.
pub const DEFAULT_HOSTNAME_TEMPLATE: &str = "${INGRESS_PROTOCOL}://${SERVICE}.${PROJECT}-${STAGE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}";

impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            protocol: "http".to_owned(),
            hostname_suffix: "svc.cluster.local".to_owned(),
            port: "80".to_owned(),
            gateway: "public-gateway.istio-system".to_owned(),
            hostname_template: DEFAULT_HOSTNAME_TEMPLATE.to_owned(),
        }
    }
}

impl IngressConfig {
    /// The settings from the environment variables Keptn's helm-service read
    /// (`INGRESS_PROTOCOL`, `INGRESS_HOSTNAME_SUFFIX`, `INGRESS_PORT`, `ISTIO_GATEWAY`,
    /// `HOSTNAME_TEMPLATE`), defaults for those unset or empty.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let default = Self::default();
        Self {
            protocol: var("INGRESS_PROTOCOL")
                .map(|p| p.to_lowercase())
                .unwrap_or(default.protocol),
            hostname_suffix: var("INGRESS_HOSTNAME_SUFFIX").unwrap_or(default.hostname_suffix),
            port: var("INGRESS_PORT").unwrap_or(default.port),
            gateway: var("ISTIO_GATEWAY").unwrap_or(default.gateway),
            hostname_template: var("HOSTNAME_TEMPLATE").unwrap_or(default.hostname_template),
        }
    }

    /// The public URI of a service: the hostname template filled in.
    pub fn public_uri(&self, scope: &ServiceScope) -> String {
        self.hostname_template
            .replace("${INGRESS_PROTOCOL}", &self.protocol)
            .replace("${SERVICE}", scope.service())
            .replace("${PROJECT}", scope.project())
            .replace("${STAGE}", scope.stage())
            .replace("${INGRESS_HOSTNAME_SUFFIX}", &self.hostname_suffix)
            .replace("${INGRESS_PORT}", &self.port)
    }

    /// The host of the public URI (what the VirtualService lists), or `None` when the
    /// template gives no host (e.g. it lacks `http://`).
    pub fn public_host(&self, scope: &ServiceScope) -> Option<String> {
        let url = url::Url::parse(&self.public_uri(scope)).ok()?;
        url.host_str().map(str::to_owned)
    }
}

/// `http://<service>.<project>-<stage>:<port>`: the cluster-local URI.
pub fn local_uri(scope: &ServiceScope, port: i32) -> String {
    format!("http://{}.{}:{port}", scope.service(), scope.namespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_shrink_like_keptn() {
        let s = ServiceScope::new("sockshop", "production", "carts").unwrap();
        assert_eq!(release_name(&s, false), "sockshop-production-carts");
        assert_eq!(
            release_name(&s, true),
            "sockshop-production-carts-generated"
        );
        let long =
            ServiceScope::new("a-rather-long-project-name", "production", "carts-service").unwrap();
        assert_eq!(
            release_name(&long, true),
            "production-carts-service-generated"
        );
        let longer = ServiceScope::new("p", "s".repeat(30), "c".repeat(40)).unwrap();
        assert_eq!(release_name(&longer, false), "c".repeat(40));
        let longest = ServiceScope::new("p", "s", "c".repeat(60)).unwrap();
        let name = release_name(&longest, true);
        assert_eq!(name, format!("{}-generated", "c".repeat(42)));
        assert!(name.len() < RELEASE_NAME_LIMIT);
    }

    #[test]
    fn public_uri_uses_the_template_and_its_defaults() {
        let s = ServiceScope::new("sockshop", "dev", "carts").unwrap();
        let ingress = IngressConfig::default();
        assert_eq!(
            ingress.public_uri(&s),
            "http://carts.sockshop-dev.svc.cluster.local:80"
        );
        assert_eq!(
            ingress.public_host(&s).unwrap(),
            "carts.sockshop-dev.svc.cluster.local"
        );
        let custom = IngressConfig {
            hostname_template: "https://${SERVICE}-${STAGE}.example.com".into(),
            ..IngressConfig::default()
        };
        assert_eq!(custom.public_uri(&s), "https://carts-dev.example.com");
        assert_eq!(local_uri(&s, 8080), "http://carts.sockshop-dev:8080");
    }
}
