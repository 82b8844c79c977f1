//! A file's language from its name, and back: the extension an edited snippet's temporary
//! file gets, so the editor highlights it.

use std::path::Path;

/// (extension, language), the first row of a language naming its usual extension.
const BY_EXTENSION: &[(&str, &str)] = &[
    ("rs", "rust"),
    ("py", "python"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("jsx", "javascript"),
    ("ts", "typescript"),
    ("tsx", "typescript"),
    ("go", "go"),
    ("java", "java"),
    ("kt", "kotlin"),
    ("swift", "swift"),
    ("c", "c"),
    ("h", "c"),
    ("cpp", "cpp"),
    ("cc", "cpp"),
    ("hpp", "cpp"),
    ("cs", "csharp"),
    ("rb", "ruby"),
    ("php", "php"),
    ("sh", "bash"),
    ("bash", "bash"),
    ("zsh", "zsh"),
    ("fish", "fish"),
    ("ps1", "powershell"),
    ("sql", "sql"),
    ("html", "html"),
    ("css", "css"),
    ("scss", "scss"),
    ("json", "json"),
    ("yaml", "yaml"),
    ("yml", "yaml"),
    ("toml", "toml"),
    ("xml", "xml"),
    ("md", "markdown"),
    ("lua", "lua"),
    ("r", "r"),
    ("pl", "perl"),
    ("ex", "elixir"),
    ("exs", "elixir"),
    ("hs", "haskell"),
    ("scala", "scala"),
    ("dart", "dart"),
    ("vue", "vue"),
    ("tf", "hcl"),
    ("txt", "text"),
];

/// What a file without a known extension is.
pub const PLAIN: &str = "text";

/// The language of a file, from its extension (or its whole name: `Dockerfile`).
pub fn of_path(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name {
        "Dockerfile" => return "dockerfile",
        "Makefile" | "GNUmakefile" => return "makefile",
        _ => {}
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    BY_EXTENSION
        .iter()
        .find(|(ext, _)| *ext == extension)
        .map_or(PLAIN, |(_, language)| language)
}

/// The usual extension of a language, `txt` for one the table does not know.
pub fn extension(language: &str) -> &'static str {
    let language = language.to_ascii_lowercase();
    BY_EXTENSION
        .iter()
        .find(|(_, lang)| *lang == language)
        .map_or("txt", |(ext, _)| ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_comes_from_the_extension_or_the_whole_name() {
        assert_eq!(of_path(Path::new("src/main.rs")), "rust");
        assert_eq!(of_path(Path::new("deploy.YML")), "yaml");
        assert_eq!(of_path(Path::new("docker/Dockerfile")), "dockerfile");
        assert_eq!(of_path(Path::new("notes")), "text");
    }

    #[test]
    fn a_language_gets_back_its_usual_extension() {
        assert_eq!(extension("Rust"), "rs");
        assert_eq!(extension("typescript"), "ts");
        assert_eq!(extension("cobol"), "txt");
    }
}
