"""Evaluation: the protocol of ``dvcp eval``, its scores (PSNR, SSIM) and its pictures (plot, contact sheet)."""
