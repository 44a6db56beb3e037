/* status: the small set of outcomes every module returns. */
#ifndef SHALE_STATUS_H
#define SHALE_STATUS_H

enum shale_status {
    SHALE_OK = 0,
    SHALE_AGAIN = 1, /* not complete yet: call again with more input */
    SHALE_ERR = -1,  /* invalid input; a message says why */
    SHALE_NOMEM = -2,
    SHALE_PROTO = -3, /* protocol violation: reply, then close */
};

#endif
