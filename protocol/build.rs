//! Generates the prost types from `proto/` with protox, a pure-Rust protobuf compiler, so
//! building needs no `protoc` on the system.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/meshpay.proto", "proto/sync.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
