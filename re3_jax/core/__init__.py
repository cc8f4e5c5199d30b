"""The conventions everything else keeps: boxes (xyxy pixels, the crop frame, IoU), the crop
function (2x context window, bilinear, zero outside), image files and checks, and the
progress lines' rate, time left and status line. Imports only NumPy, JAX and PIL."""
