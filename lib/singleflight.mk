# libsingleflight: placeholder, filled in by the in-process group work.
check-singleflight:
.PHONY: check-singleflight
