//! Generated Rust types for attache's wire API.
//!
//! Everything under `src/gen/` comes from `scripts/generate` (buf with the
//! buffa and connect-rust plugins) and is never edited by hand; CI fails if
//! it is stale. Only `attache-server`, the test crate and the benches depend
//! on this crate: module crates speak domain types, not protobuf.
#![allow(clippy::all)]

/// The file descriptor set of every attache proto, for gRPC server
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/descriptor.binpb");

/// The descriptor set of `grpc.health.v1` (`proto-third-party/`), so
/// reflection lists the health service attache answers and tools such as
/// grpcurl and `buf curl` can call it by name.
pub const HEALTH_DESCRIPTOR_SET: &[u8] = include_bytes!("gen/health.binpb");

pub mod attache {
    pub mod sidecar {
        pub mod v1 {
            include!("gen/buffa/attache.sidecar.v1.mod.rs");
            include!("gen/connect/attache.sidecar.v1.mod.rs");
        }
    }
    pub mod redis {
        pub mod v1 {
            include!("gen/buffa/attache.redis.v1.mod.rs");
            include!("gen/connect/attache.redis.v1.mod.rs");
        }
    }
    pub mod image {
        pub mod v1 {
            include!("gen/buffa/attache.image.v1.mod.rs");
            include!("gen/connect/attache.image.v1.mod.rs");
        }
    }
    pub mod postgres {
        pub mod v1 {
            include!("gen/buffa/attache.postgres.v1.mod.rs");
            include!("gen/connect/attache.postgres.v1.mod.rs");
        }
    }
    pub mod kafka {
        pub mod v1 {
            include!("gen/buffa/attache.kafka.v1.mod.rs");
            include!("gen/connect/attache.kafka.v1.mod.rs");
        }
    }
    pub mod password {
        pub mod v1 {
            include!("gen/buffa/attache.password.v1.mod.rs");
            include!("gen/connect/attache.password.v1.mod.rs");
        }
    }
}
