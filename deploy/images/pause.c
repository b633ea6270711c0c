/* The pod sandbox's "pause" process: holds the pod's namespaces open and, as PID 1 of the pod's
 * PID namespace, reaps orphaned zombies. Build: gcc -static -Os -o pause pause.c && strip pause */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void exit_cleanly(int signo) {
    (void)signo;
    _exit(0);
}

static void reap_children(int signo) {
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static int handle(int signo, void (*handler)(int), int flags) {
    struct sigaction action = {0};
    action.sa_handler = handler;
    action.sa_flags = flags;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}

int main(void) {
    if (handle(SIGTERM, exit_cleanly, 0) < 0 || handle(SIGINT, exit_cleanly, 0) < 0 ||
        handle(SIGCHLD, reap_children, SA_NOCLDSTOP | SA_RESTART) < 0) {
        return 1;
    }
    /* A child that exited before the handler was installed sent its SIGCHLD to nobody. */
    reap_children(0);
    for (;;) {
        pause();
    }
}
