# libsingleflight: placeholder, filled in by the in-process group work.
# Must define: check-singleflight check-singleflight-tsan bench-singleflight
#              install-singleflight uninstall-singleflight
check-singleflight check-singleflight-tsan bench-singleflight install-singleflight uninstall-singleflight:
.PHONY: check-singleflight check-singleflight-tsan bench-singleflight install-singleflight uninstall-singleflight
