package dev.neuralheatmap;

import dev.neuralheatmap.v1.RenderHeatmapResponse;
import dev.neuralheatmap.v1.RenderKind;
import dev.neuralheatmap.v1.Theme;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A PNG the server rendered (the heatmap canvas or the correlation matrix in a theme).
 *
 * @param png the PNG file's bytes
 * @param width pixels
 * @param height pixels
 * @param theme the theme it was drawn in (the stored one when the request named none)
 * @param kind heatmap or correlation
 */
public record RenderedImage(byte[] png, int width, int height, Theme theme, RenderKind kind) {
  static RenderedImage of(RenderHeatmapResponse r) {
    return new RenderedImage(r.getPng().toByteArray(), r.getWidth(), r.getHeight(), r.getTheme(), r.getKind());
  }

  /** Writes the PNG to a file and returns the path. */
  public Path save(Path path) {
    try {
      return Files.write(path, png);
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + path, e);
    }
  }
}
