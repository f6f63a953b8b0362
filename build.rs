//! Link settings of the `conplus-operator` executables.
//!
//! On Linux with GNU libc, relative relocations are packed (`DT_RELR`): a position-independent
//! executable otherwise carries about 1.2 MB of them (`.rela.dyn`, 24 bytes per pointer in its
//! data), which the loader reads on every start, so that they count in every process's memory:
//! `check` of a few files and the controller alike. Packed, they take a few kilobytes. glibc
//! 2.36 or later applies them (the static binary carries its own glibc); a linker that does
//! not know the option ignores it with a warning.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
