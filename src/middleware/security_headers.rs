//! Headers that keep browsers from sniffing, framing or caching API answers.

use axum::http::{header, HeaderName, HeaderValue};
use tower::layer::util::Stack;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;

type Headers = Stack<
    SetResponseHeaderLayer<HeaderValue>,
    Stack<
        SetResponseHeaderLayer<HeaderValue>,
        Stack<
            SetResponseHeaderLayer<HeaderValue>,
            Stack<
                SetResponseHeaderLayer<HeaderValue>,
                Stack<SetResponseHeaderLayer<HeaderValue>, tower::layer::util::Identity>,
            >,
        >,
    >,
>;

pub fn layer() -> ServiceBuilder<Headers> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    ServiceBuilder::new()
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .layer(set(header::CACHE_CONTROL, "no-store"))
}
