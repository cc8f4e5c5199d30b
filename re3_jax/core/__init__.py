"""The conventions everything else keeps: boxes (xyxy pixels, the crop frame, IoU), the crop
function (2x context window, bilinear, zero outside), image files and checks, smooth noise,
and the progress lines' rate, time left and status line; SIGINT/SIGTERM recorded so that none
is lost (`signals`), and outputs written whole or not at all (`outputs`). Imports only NumPy,
JAX, PIL and OpenCV (`noise`: NumPy and OpenCV only)."""
