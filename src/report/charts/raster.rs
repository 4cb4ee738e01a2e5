//! PNG from the chart's SVG, with resvg (pure Rust): the PNG shows exactly what the SVG shows,
//! text kerned and shaped from the bundled font, the only font resvg is given (no system fonts).

use super::FONT_BYTES;
use resvg::{tiny_skia, usvg};
use std::sync::{Arc, OnceLock};

/// The bundled font's family name, as its name table gives it.
const FAMILY: &str = "DejaVu Sans";

/// A font database holding the bundled font alone, every generic family mapped to it.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT_BYTES.to_vec());
        db.set_sans_serif_family(FAMILY);
        db.set_serif_family(FAMILY);
        db.set_monospace_family(FAMILY);
        db.set_cursive_family(FAMILY);
        db.set_fantasy_family(FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Rasterises `svg` at its own size (one pixel per SVG unit) into PNG bytes. Deterministic: the
/// same SVG gives the same bytes.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, String> {
    let options = usvg::Options { font_family: FAMILY.to_string(), fontdb: fonts(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("cannot read the chart's SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("cannot allocate a {}x{} image", size.width(), size.height()))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::identity(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| format!("cannot encode the PNG: {e}"))
}
