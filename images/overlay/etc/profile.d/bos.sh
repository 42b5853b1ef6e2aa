# Bhojpur OS: bhojpur administers the system and its tools (bos-config,
# opsutl, ...) are in /usr/sbin: on the PATH of every login shell, so that
# typing one without sudo says that it needs root instead of "not found".
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin ;;
esac
export PATH
