//! Merges names the JVM and native loaders generate per process (lambda classes, reflection
//! accessors, unpacked native libraries with random suffixes) into one stable name each, as
//! Pyroscope does, so the same code gets the same frame across uploads.

const LAMBDA: &str = "$$Lambda";
const ACCESSOR: &str = "jdk/internal/reflect/GeneratedMethodAccessor";

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn all_hex_lower(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `\$?\d*[./](0x)?[\da-f]+` or `\d+`, the whole of `s`.
fn lambda_suffix(s: &str) -> bool {
    if all_digits(s) {
        return true;
    }
    let s = s.strip_prefix('$').unwrap_or(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let s = &s[digits..];
    let Some(rest) = s.strip_prefix(['.', '/']) else {
        return false;
    };
    rest.strip_prefix("0x").is_some_and(all_hex_lower) || all_hex_lower(rest)
}

/// Strips `./tmp/` or `/tmp/` and a trailing ` (deleted)`, and requires a `.so` end; returns
/// the library stem between them.
fn so_stem(s: &str) -> Option<&str> {
    let s = s
        .strip_prefix("./tmp/")
        .or_else(|| s.strip_prefix("/tmp/"))
        .unwrap_or(s);
    let s = s.strip_suffix(" (deleted)").unwrap_or(s);
    s.strip_suffix(".so")
}

/// `libzstd-jni-<d>.<d>.<d>-<digits>`.
fn zstd_jni(stem: &str) -> bool {
    let Some(rest) = stem.strip_prefix("libzstd-jni-") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('-').collect();
    if parts.len() != 2 || !all_digits(parts[1]) {
        return false;
    }
    let v: Vec<&str> = parts[0].split('.').collect();
    v.len() == 3 && v.iter().all(|p| all_digits(p))
}

/// `(lib)?amazonCorrettoCryptoProvider(NativeLibraries.)?<16 hex>(/libcrypto|/libamazonCorrettoCryptoProvider)?`.
fn corretto(stem: &str) -> bool {
    let s = stem.strip_prefix("lib").unwrap_or(stem);
    let Some(s) = s.strip_prefix("amazonCorrettoCryptoProvider") else {
        return false;
    };
    let s = s.strip_prefix("NativeLibraries.").unwrap_or(s);
    if s.len() < 16 || !s.is_char_boundary(16) || !all_hex_lower(&s[..16]) {
        return false;
    }
    matches!(
        &s[16..],
        "" | "/libcrypto" | "/libamazonCorrettoCryptoProvider"
    )
}

/// Pyroscope's own async-profiler build, whatever the platform.
fn pyroscope_async_profiler(stem: &str) -> bool {
    let Some(s) = stem.strip_prefix("libasyncProfiler-") else {
        return false;
    };
    let Some(s) = s.strip_suffix("-17b9a1d8156277a98ccc871afa9a8f69215f92") else {
        return false;
    };
    matches!(s, "linux-arm64" | "linux-musl-x64" | "linux-x64" | "macos")
}

/// Cheap pre-check: false when [`merge_generated_names`] would return `name` unchanged.
#[inline]
pub(crate) fn needs_merge(name: &str) -> bool {
    // Every pattern holds a `$` or a `.` (`GeneratedMethodAccessor` is under `jdk/internal`,
    // which holds neither, so it is checked on its own); most names have neither.
    if !name.bytes().any(|b| b == b'$' || b == b'.') {
        return name.starts_with(ACCESSOR);
    }
    name.contains(LAMBDA) || name.starts_with(ACCESSOR) || name.contains(".so")
}

/// Returns `name` with JVM-generated parts replaced by `_`.
pub(crate) fn merge_generated_names(name: String) -> String {
    let mut name = name;
    if let Some(rest) = name.strip_prefix(ACCESSOR) {
        if all_digits(rest) {
            name = format!("{ACCESSOR}_");
        }
    }
    if name.contains(LAMBDA) {
        // The regex's greedy `.+` prefers the last `$$Lambda` whose suffix matches.
        let mut found = None;
        for (i, _) in name.rmatch_indices(LAMBDA) {
            if i > 0 && lambda_suffix(&name[i + LAMBDA.len()..]) {
                found = Some(i);
                break;
            }
        }
        if let Some(i) = found {
            name.truncate(i + LAMBDA.len());
            name.push('_');
        }
    }
    if name.contains(".so") {
        if let Some(stem) = so_stem(&name) {
            if zstd_jni(stem) {
                return "libzstd-jni-_.so".to_string();
            }
            if corretto(stem) {
                return "libamazonCorrettoCryptoProvider_.so".to_string();
            }
            if pyroscope_async_profiler(stem) {
                return "libasyncProfiler-_.so".to_string();
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::merge_generated_names as m;

    fn t(s: &str) -> String {
        m(s.to_string())
    }

    #[test]
    fn lambdas_and_accessors() {
        assert_eq!(
            t("org/example/rideshare/OrderService$$Lambda$669.0x0000000800fd7318"),
            "org/example/rideshare/OrderService$$Lambda_"
        );
        assert_eq!(t("Fib$$Lambda.0x00007ffa600c4da0"), "Fib$$Lambda_");
        assert_eq!(t("App$$Lambda$14/0x0000000800c03000"), "App$$Lambda_");
        assert_eq!(t("App$$Lambda$14"), "App$$Lambda$14");
        assert_eq!(t("App$$Lambda14"), "App$$Lambda_");
        assert_eq!(
            t("datadog.remoteconfig.PollerScheduler$$Lambda+0x00007ffa1c2dc000/795275472"),
            "datadog.remoteconfig.PollerScheduler$$Lambda+0x00007ffa1c2dc000/795275472"
        );
        assert_eq!(t("$$Lambda1"), "$$Lambda1");
        assert_eq!(
            t("jdk/internal/reflect/GeneratedMethodAccessor31"),
            "jdk/internal/reflect/GeneratedMethodAccessor_"
        );
        assert_eq!(
            t("jdk/internal/reflect/GeneratedMethodAccessorX"),
            "jdk/internal/reflect/GeneratedMethodAccessorX"
        );
    }

    #[test]
    fn native_libraries() {
        assert_eq!(
            t("./tmp/libzstd-jni-1.5.1-16931311898282279136.so"),
            "libzstd-jni-_.so"
        );
        assert_eq!(
            t("libzstd-jni-1.5.1-16931311898282279136.so (deleted)"),
            "libzstd-jni-_.so"
        );
        assert_eq!(
            t("./tmp/libamazonCorrettoCryptoProvider109b39cf33c563eb.so"),
            "libamazonCorrettoCryptoProvider_.so"
        );
        assert_eq!(t("./tmp/amazonCorrettoCryptoProviderNativeLibraries.7382c2f79097f415/libcrypto.so (deleted)"), "libamazonCorrettoCryptoProvider_.so");
        assert_eq!(
            t("libasyncProfiler-linux-x64-17b9a1d8156277a98ccc871afa9a8f69215f92.so"),
            "libasyncProfiler-_.so"
        );
        assert_eq!(
            t("libasyncProfiler-linux-x64-d73f214b50539537b06070b954cbc95c10a06024.so"),
            "libasyncProfiler-linux-x64-d73f214b50539537b06070b954cbc95c10a06024.so"
        );
        assert_eq!(t("libjvm.so"), "libjvm.so");
    }
}
