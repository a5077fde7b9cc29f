#ifndef SCALETUNE_CMPI_SHIM_H
#define SCALETUNE_CMPI_SHIM_H
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE …) are macros over
// globals that Swift cannot import: each is wrapped in a function here. The same wrappers
// compile against MPICH's header.
#include <mpi.h>

static inline MPI_Comm st_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm st_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype st_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype st_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype st_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op st_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op st_mpi_max(void) { return MPI_MAX; }
static inline void *st_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request st_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *st_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *st_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline MPI_Info st_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler st_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int st_mpi_undefined(void) { return MPI_UNDEFINED; }
static inline int st_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int st_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int st_mpi_success(void) { return MPI_SUCCESS; }
static inline int st_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }

#endif
